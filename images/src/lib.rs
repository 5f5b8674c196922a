//! Image building.
