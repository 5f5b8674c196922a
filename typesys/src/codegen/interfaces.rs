//! Emits, per interface: argument and result structs, the request and reply enums, a
//! client stub and a server trait with its dispatcher. Must keep method indices equal
//! to declaration order, since they are the wire tags.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::types::{emit_hash, emit_struct};
use super::{CodegenError, DERIVES, Names, snake_case};
use crate::etn::Schema;
use crate::graph::{Kind, Member};

struct MethodNames {
    variant: String,
    function: String,
    arguments_type: String,
    results_type: String,
    parameters: Vec<(String, String)>,
}

pub(super) fn emit(
    schema: &Schema,
    names: &Names,
    output: &mut String,
) -> Result<(), CodegenError> {
    for declaration in &schema.declarations {
        let Some(Kind::Interface { methods }) =
            schema.graph.node(declaration.node).map(|node| &node.kind)
        else {
            continue;
        };
        let interface = names.of(declaration.node).unwrap_or_default();
        let mut functions = BTreeSet::new();
        let mut described = Vec::with_capacity(methods.len());
        for method in methods.iter() {
            let arguments_type = names.of(method.arguments).unwrap_or_default();
            let results_type = names.of(method.results).unwrap_or_default();
            let fields_of = |node| match schema.graph.node(node).map(|entry| &entry.kind) {
                Some(Kind::Struct { fields }) => fields.to_vec(),
                _ => Vec::new(),
            };
            let argument_fields: Vec<Member<'_>> = fields_of(method.arguments);
            let result_fields: Vec<Member<'_>> = fields_of(method.results);
            emit_struct(schema, names, arguments_type, &argument_fields, output)?;
            emit_hash(schema, arguments_type, method.arguments, output);
            emit_struct(schema, names, results_type, &result_fields, output)?;
            emit_hash(schema, results_type, method.results, output);
            let function = snake_case(&method.name)?;
            if !functions.insert(function.clone()) {
                return Err(CodegenError::NameCollision(format!(
                    "{interface}Client::{function}"
                )));
            }
            let mut parameters = Vec::new();
            for field in &argument_fields {
                parameters.push((
                    snake_case(&field.name)?,
                    names.rust_type(schema, field.node),
                ));
            }
            described.push(MethodNames {
                variant: super::identifier(&method.name)?,
                function,
                arguments_type: String::from(arguments_type),
                results_type: String::from(results_type),
                parameters,
            });
        }
        emit_interface(schema, declaration.node, interface, &described, output);
    }
    Ok(())
}

fn emit_interface(
    schema: &Schema,
    node: crate::graph::NodeIndex,
    interface: &str,
    methods: &[MethodNames],
    output: &mut String,
) {
    output.push_str(&format!(
        "/// ETN interface `{interface}`: the connection type; see `{interface}Request`.\n#[derive(Clone, Copy, Debug, PartialEq, Eq)]\npub struct {interface};\n\n"
    ));
    emit_hash(schema, interface, node, output);
    for (enum_suffix, what) in [("Request", "request"), ("Reply", "reply")] {
        output.push_str(&format!(
            "/// A {what} on a `{interface}` connection: method index, then its struct.\n"
        ));
        output.push_str(DERIVES);
        output.push_str(&format!("pub enum {interface}{enum_suffix} {{\n"));
        for method in methods {
            let payload = if enum_suffix == "Request" {
                &method.arguments_type
            } else {
                &method.results_type
            };
            output.push_str(&format!("    {}({payload}),\n", method.variant));
        }
        output.push_str("}\n\n");
    }

    // Client stub.
    output.push_str(&format!(
        "/// Calls `{interface}` methods through a transport.\n#[derive(Debug)]\npub struct {interface}Client<T> {{\n    /// Carries requests and replies.\n    pub transport: T,\n}}\n\n"
    ));
    output.push_str(&format!(
        "impl<T: ::ethos_typesys::rpc::Transport> {interface}Client<T> {{\n"
    ));
    for (index, method) in methods.iter().enumerate() {
        let parameter_list: String = method
            .parameters
            .iter()
            .map(|(name, rust_type)| format!(", {name}: {rust_type}"))
            .collect();
        let field_list: Vec<&str> = method
            .parameters
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let field_list = field_list.join(", ");
        output.push_str(&format!(
            "    /// Calls `{variant}` and waits for its reply.\n    #[allow(clippy::too_many_arguments)]\n    pub fn {function}(&mut self{parameter_list}) -> ::ethos_typesys::__private::Result<{results}, ::ethos_typesys::rpc::RpcError<T::Error>> {{\n        let request = {interface}Request::{variant}({arguments} {{ {field_list} }});\n        #[allow(unreachable_patterns)]\n        match ::ethos_typesys::rpc::Transport::call_value::<{interface}Request, {interface}Reply>(&mut self.transport, &request)? {{\n            {interface}Reply::{variant}(results) => Ok(results),\n            _ => Err(::ethos_typesys::rpc::RpcError::MismatchedReply {{ expected: {index} }}),\n        }}\n    }}\n\n",
            variant = method.variant,
            function = method.function,
            results = method.results_type,
            arguments = method.arguments_type,
        ));
    }
    output.push_str("}\n\n");

    // Server trait and dispatch.
    output.push_str(&format!(
        "/// What a `{interface}` server implements: one function per method.\npub trait {interface}Server {{\n"
    ));
    for method in methods {
        let parameter_list: String = method
            .parameters
            .iter()
            .map(|(name, rust_type)| format!(", {name}: {rust_type}"))
            .collect();
        output.push_str(&format!(
            "    /// Handles `{}`.\n    #[allow(clippy::too_many_arguments)]\n    fn {}(&mut self{parameter_list}) -> {};\n",
            method.variant, method.function, method.results_type
        ));
    }
    output.push_str("}\n\n");
    output.push_str(&format!(
        "impl {interface}Request {{\n    /// Calls the server function this request names and wraps its results.\n    pub fn dispatch<S: {interface}Server + ?Sized>(self, server: &mut S) -> {interface}Reply {{\n        match self {{\n"
    ));
    for method in methods {
        let field_list: Vec<&str> = method
            .parameters
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let field_list = field_list.join(", ");
        let argument_list = if field_list.is_empty() {
            String::new()
        } else {
            format!(", {field_list}")
        };
        output.push_str(&format!(
            "            {interface}Request::{variant}({arguments} {{ {field_list} }}) => {interface}Reply::{variant}(<S as {interface}Server>::{function}(server{argument_list})),\n",
            variant = method.variant,
            arguments = method.arguments_type,
            function = method.function,
        ));
    }
    output.push_str("        }\n    }\n}\n\n");
    output.push_str(&format!(
        "/// Decodes one `{interface}` request, runs it on `server` and encodes the reply.\npub fn serve_{snake}<S: {interface}Server + ?Sized>(server: &mut S, request: &[u8]) -> ::ethos_typesys::__private::Result<::ethos_typesys::__private::Vec<u8>, ::ethos_typesys::wire::WireError> {{\n    let request: {interface}Request = ::ethos_typesys::wire::decode(request)?;\n    ::ethos_typesys::wire::encode(&request.dispatch(server))\n}}\n\n/// Decodes one `{interface}` request, runs it on `server` and encodes the reply at the end of `reply`: `serve_{snake}` for a server that keeps one vector for every reply.\npub fn serve_{snake}_into<S: {interface}Server + ?Sized>(server: &mut S, request: &[u8], reply: &mut ::ethos_typesys::__private::Vec<u8>) -> ::ethos_typesys::__private::Result<(), ::ethos_typesys::wire::WireError> {{\n    let request: {interface}Request = ::ethos_typesys::wire::decode(request)?;\n    ::ethos_typesys::wire::encode_into(&request.dispatch(server), reply)\n}}\n\n",
        snake = snake_case(interface).unwrap_or_default()
    ));
}
