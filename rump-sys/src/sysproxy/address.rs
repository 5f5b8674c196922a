//! The URLs `rump_init_server` takes: `unix://PATH` (a relative path is taken from the
//! current directory) and `tcp://ADDRESS:PORT` (IPv4; `*` or `0` for any address).
//! Parsing only; nothing here opens a socket.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use super::SysproxyError;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ListenAddress {
    /// A unix-domain socket at this absolute path.
    Unix(PathBuf),
    /// A TCP port.
    Tcp(SocketAddrV4),
}

/// Longest unix socket path (`sizeof(sun_path)` less the NUL).
const UNIX_PATH_LIMIT: usize = 107;

impl ListenAddress {
    /// Parses a server URL.
    pub(super) fn parse(url: &str) -> Result<ListenAddress, SysproxyError> {
        let (scheme, rest) = url.split_once("://").ok_or(SysproxyError::BadUrl)?;
        match scheme {
            "unix" => {
                let mut path = PathBuf::from(rest);
                if path.is_relative() {
                    let directory = std::env::current_dir().map_err(|_| SysproxyError::BadUrl)?;
                    path = directory.join(path);
                }
                if rest.is_empty() || path.as_os_str().len() > UNIX_PATH_LIMIT {
                    return Err(SysproxyError::BadUrl);
                }
                Ok(ListenAddress::Unix(path))
            }
            "tcp" => {
                let (host, port) = rest.rsplit_once(':').ok_or(SysproxyError::BadUrl)?;
                let port = port.strip_suffix('/').unwrap_or(port);
                let port: u16 = port.parse().map_err(|_| SysproxyError::BadUrl)?;
                let address = match host {
                    "*" | "0" => Ipv4Addr::UNSPECIFIED,
                    _ => host.parse().map_err(|_| SysproxyError::BadUrl)?,
                };
                Ok(ListenAddress::Tcp(SocketAddrV4::new(address, port)))
            }
            _ => Err(SysproxyError::BadUrl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_and_tcp_urls_parse() {
        assert_eq!(
            ListenAddress::parse("unix:///tmp/rump.sock"),
            Ok(ListenAddress::Unix(PathBuf::from("/tmp/rump.sock")))
        );
        let relative = ListenAddress::parse("unix://sock").unwrap();
        assert_eq!(
            relative,
            ListenAddress::Unix(std::env::current_dir().unwrap().join("sock"))
        );
        assert_eq!(
            ListenAddress::parse("tcp://127.0.0.1:12345"),
            Ok(ListenAddress::Tcp("127.0.0.1:12345".parse().unwrap()))
        );
        assert_eq!(
            ListenAddress::parse("tcp://*:80/"),
            Ok(ListenAddress::Tcp("0.0.0.0:80".parse().unwrap()))
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "/tmp/sock",
            "unix://",
            "tcp6://[::1]:1",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:99999",
            "tcp://host.example:1",
        ] {
            assert_eq!(
                ListenAddress::parse(url),
                Err(SysproxyError::BadUrl),
                "{url}"
            );
        }
        let long = alloc::format!("unix:///{}", "x".repeat(200));
        assert_eq!(ListenAddress::parse(&long), Err(SysproxyError::BadUrl));
    }
}
