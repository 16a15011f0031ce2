//! The host's check of tool calls against the tools a task declares.
//!
//! A task declares each tool's arguments as a JSON Schema. The host compiles
//! every declared schema when it loads the module, so a schema outside the
//! subset below is a load error the suite's authority sees before shipping,
//! and checks every call of every reply against it before the task sees the
//! call, so a task can rely on the verdict ([`ToolCallProblem`]) instead of
//! re-implementing JSON Schema in the guest. The subset (SPEC.md, "Tools"):
//! `type` (one name or a list of `object`, `array`, `string`, `integer`,
//! `number`, `boolean`, `null`), `properties`, `required`,
//! `additionalProperties` (a boolean), `items`, `enum`, `minLength`,
//! `maxLength`, `minimum`, `maximum`; and the annotations `description`,
//! `title`, `default`, `examples`, `$schema`, which do not constrain.

use std::collections::BTreeMap;

use airlock_core::abi::{MAX_TOOL_CALLS, ModelReply, ToolCall, ToolCallProblem, ToolSpec};
use serde_json::Value;

/// Keywords that only annotate a schema.
const ANNOTATIONS: [&str; 5] = ["description", "title", "default", "examples", "$schema"];

/// The most bytes of a tool's name, as OpenAI-style servers allow.
pub const MAX_TOOL_NAME: usize = 64;

/// The most nesting of a declared schema: a bound on the host's recursion.
const MAX_SCHEMA_DEPTH: usize = 16;

/// The most nesting of call arguments the host checks (serde_json's own
/// recursion limit is 128; arguments this deep are refused as not JSON).
const MAX_ARGUMENT_DEPTH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    Null,
}

impl JsonType {
    fn parse(name: &str) -> Option<JsonType> {
        Some(match name {
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "string" => JsonType::String,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "boolean" => JsonType::Boolean,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Null => "null",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::String => value.is_string(),
            // JSON Schema: an integer is a number with no fractional part (1.0 is one).
            JsonType::Integer => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            JsonType::Number => value.is_number(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Null => value.is_null(),
        }
    }
}

/// One compiled schema of the subset.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    types: Option<Vec<JsonType>>,
    properties: BTreeMap<String, Schema>,
    required: Vec<String>,
    additional_properties: bool,
    items: Option<Box<Schema>>,
    allowed: Option<Vec<Value>>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
}

impl Schema {
    /// Compiles the JSON text of an arguments schema; its top level must be
    /// `"type": "object"`. The error says which keyword at which path.
    pub fn compile(text: &str) -> Result<Schema, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the schema is not JSON: {e}"))?;
        let schema = Schema::from_value(&value, "", 0)?;
        if schema.types.as_deref() != Some(&[JsonType::Object]) {
            return Err("the schema's top level must be {\"type\": \"object\", ...}".into());
        }
        Ok(schema)
    }

    fn from_value(value: &Value, path: &str, depth: usize) -> Result<Schema, String> {
        let at = |path: &str| {
            if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            }
        };
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "{}: nested deeper than {MAX_SCHEMA_DEPTH}",
                at(path)
            ));
        }
        let Some(object) = value.as_object() else {
            return Err(format!("{}: a schema must be a JSON object", at(path)));
        };
        let mut schema = Schema {
            additional_properties: true,
            ..Schema::default()
        };
        for (key, v) in object {
            let here = format!("{path}/{key}");
            let count = |v: &Value| {
                v.as_u64()
                    .ok_or_else(|| format!("{here}: must be a non-negative integer"))
            };
            match key.as_str() {
                "type" => {
                    let names: Vec<&Value> = match v {
                        Value::Array(list) => list.iter().collect(),
                        other => vec![other],
                    };
                    let mut types = Vec::new();
                    for name in names {
                        let t = name.as_str().and_then(JsonType::parse).ok_or_else(|| {
                            format!("{here}: {name} is not a JSON Schema type name")
                        })?;
                        types.push(t);
                    }
                    schema.types = Some(types);
                }
                "properties" => {
                    let Some(props) = v.as_object() else {
                        return Err(format!("{here}: must be an object of schemas"));
                    };
                    for (name, sub) in props {
                        let sub = Schema::from_value(sub, &format!("{here}/{name}"), depth + 1)?;
                        schema.properties.insert(name.clone(), sub);
                    }
                }
                "required" => {
                    let names = v
                        .as_array()
                        .and_then(|list| {
                            list.iter()
                                .map(|n| n.as_str().map(str::to_owned))
                                .collect::<Option<Vec<String>>>()
                        })
                        .ok_or_else(|| format!("{here}: must be an array of names"))?;
                    schema.required = names;
                }
                "additionalProperties" => {
                    schema.additional_properties = v.as_bool().ok_or_else(|| {
                        format!("{here}: only true or false is supported (not a schema)")
                    })?;
                }
                "items" => {
                    schema.items = Some(Box::new(Schema::from_value(v, &here, depth + 1)?));
                }
                "enum" => {
                    let list = v
                        .as_array()
                        .ok_or_else(|| format!("{here}: must be an array"))?;
                    schema.allowed = Some(list.clone());
                }
                "minLength" => schema.min_length = Some(count(v)?),
                "maxLength" => schema.max_length = Some(count(v)?),
                "minimum" => {
                    schema.minimum = Some(
                        v.as_f64()
                            .ok_or_else(|| format!("{here}: must be a number"))?,
                    )
                }
                "maximum" => {
                    schema.maximum = Some(
                        v.as_f64()
                            .ok_or_else(|| format!("{here}: must be a number"))?,
                    )
                }
                annotation if ANNOTATIONS.contains(&annotation) => {}
                other => {
                    return Err(format!(
                        "{here}: the keyword \"{other}\" is not in the supported subset (SPEC.md, \"Tools\")"
                    ));
                }
            }
        }
        Ok(schema)
    }

    /// Checks `value` against the schema; the error names the first place
    /// that does not fit, as a JSON pointer, and why.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        self.check_at(value, "", 0)
    }

    fn check_at(&self, value: &Value, path: &str, depth: usize) -> Result<(), String> {
        let at = || {
            if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            }
        };
        if depth > MAX_ARGUMENT_DEPTH {
            return Err(format!("{}: nested deeper than {MAX_ARGUMENT_DEPTH}", at()));
        }
        if let Some(types) = &self.types
            && !types.iter().any(|t| t.matches(value))
        {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            return Err(format!("{}: expected {}", at(), names.join(" or ")));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(value)
        {
            return Err(format!("{}: not one of the allowed values", at()));
        }
        if let Some(text) = value.as_str() {
            let chars = text.chars().count() as u64;
            if let Some(min) = self.min_length
                && chars < min
            {
                return Err(format!("{}: shorter than {min} characters", at()));
            }
            if let Some(max) = self.max_length
                && chars > max
            {
                return Err(format!("{}: longer than {max} characters", at()));
            }
        }
        if let Some(number) = value.as_f64() {
            if let Some(min) = self.minimum
                && number < min
            {
                return Err(format!("{}: less than {min}", at()));
            }
            if let Some(max) = self.maximum
                && number > max
            {
                return Err(format!("{}: more than {max}", at()));
            }
        }
        if let Some(object) = value.as_object() {
            for name in &self.required {
                if !object.contains_key(name) {
                    return Err(format!(
                        "{}: missing the required property \"{name}\"",
                        at()
                    ));
                }
            }
            for (name, v) in object {
                let here = format!("{path}/{name}");
                match self.properties.get(name) {
                    Some(sub) => sub.check_at(v, &here, depth + 1)?,
                    None if !self.additional_properties => {
                        return Err(format!("{here}: not a property this tool takes"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(list)) = (&self.items, value.as_array()) {
            for (i, item) in list.iter().enumerate() {
                items.check_at(item, &format!("{path}/{i}"), depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The compiled tools of one task.
#[derive(Clone, Debug, Default)]
pub struct ToolSet {
    tools: Vec<(String, Schema)>,
}

impl ToolSet {
    /// Checks and compiles a task's declared tools: names valid and
    /// distinct, every schema in the subset. The error names the tool.
    pub fn compile(specs: &[ToolSpec]) -> Result<ToolSet, String> {
        let mut tools: Vec<(String, Schema)> = Vec::new();
        for spec in specs {
            let name = &spec.name;
            let valid = !name.is_empty()
                && name.len() <= MAX_TOOL_NAME
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(format!(
                    "tool name {name:?} is not 1 to {MAX_TOOL_NAME} bytes of letters, digits, _ and -"
                ));
            }
            if tools.iter().any(|(n, _)| n == name) {
                return Err(format!("tool \"{name}\" is declared twice"));
            }
            let schema = Schema::compile(&spec.parameters)
                .map_err(|why| format!("tool \"{name}\": {why}"))?;
            tools.push((name.clone(), schema));
        }
        Ok(ToolSet { tools })
    }

    /// No tools: what a run in text mode offers, so any call is undeclared.
    pub fn none() -> ToolSet {
        ToolSet::default()
    }

    /// The host's verdict on one call: `None` when it fits.
    pub fn problem(&self, call: &ToolCall) -> Option<ToolCallProblem> {
        let Some((_, schema)) = self.tools.iter().find(|(n, _)| *n == call.name) else {
            return Some(ToolCallProblem::UndeclaredTool);
        };
        let value: Value = match serde_json::from_str(&call.arguments) {
            Ok(value @ Value::Object(_)) => value,
            _ => return Some(ToolCallProblem::ArgumentsNotJson),
        };
        schema
            .check(&value)
            .err()
            .map(ToolCallProblem::ArgumentsAgainstSchema)
    }

    /// Marks every call of `reply` with its verdict, dropping calls beyond
    /// [`MAX_TOOL_CALLS`] (and marking the reply truncated).
    pub fn check_reply(&self, reply: &mut ModelReply) {
        if reply.tool_calls.len() > MAX_TOOL_CALLS {
            reply.tool_calls.truncate(MAX_TOOL_CALLS);
            reply.truncated = true;
        }
        for call in &mut reply.tool_calls {
            call.problem = self.problem(call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASH: &str = r#"{"type":"object","properties":{"command":{"type":"string","maxLength":10}},"required":["command"],"additionalProperties":false}"#;

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: arguments.into(),
            problem: None,
        }
    }

    fn tools() -> ToolSet {
        ToolSet::compile(&[ToolSpec {
            name: "bash".into(),
            description: "run".into(),
            parameters: BASH.into(),
        }])
        .unwrap()
    }

    #[test]
    fn calls_get_the_verdict_they_deserve() {
        let t = tools();
        assert_eq!(t.problem(&call("bash", r#"{"command":"ls"}"#)), None);
        assert_eq!(
            t.problem(&call("python", r#"{"code":"1"}"#)),
            Some(ToolCallProblem::UndeclaredTool)
        );
        assert_eq!(
            t.problem(&call("bash", "{not json")),
            Some(ToolCallProblem::ArgumentsNotJson)
        );
        assert_eq!(
            t.problem(&call("bash", "[1]")),
            Some(ToolCallProblem::ArgumentsNotJson)
        );
        let against = |args: &str| match t.problem(&call("bash", args)) {
            Some(ToolCallProblem::ArgumentsAgainstSchema(why)) => why,
            other => panic!("{args}: {other:?}"),
        };
        assert!(against("{}").contains("required property \"command\""));
        assert!(against(r#"{"command":3}"#).contains("/command: expected string"));
        assert!(against(r#"{"command":"ls","x":1}"#).contains("/x: not a property"));
        assert!(against(r#"{"command":"0123456789a"}"#).contains("longer than 10"));
        assert_eq!(
            ToolSet::none().problem(&call("bash", r#"{"command":"ls"}"#)),
            Some(ToolCallProblem::UndeclaredTool)
        );
    }

    #[test]
    fn schemas_outside_the_subset_are_refused_at_load() {
        let spec = |name: &str, parameters: &str| ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: parameters.into(),
        };
        let err = ToolSet::compile(&[spec("t", r#"{"type":"object","oneOf":[]}"#)]).unwrap_err();
        assert!(err.contains("\"oneOf\""), "{err}");
        let err = ToolSet::compile(&[spec("t", r#"{"type":"string"}"#)]).unwrap_err();
        assert!(err.contains("top level"), "{err}");
        let err = ToolSet::compile(&[spec("a b", r#"{"type":"object"}"#)]).unwrap_err();
        assert!(err.contains("not 1 to 64"), "{err}");
        let twice = [
            spec("t", r#"{"type":"object"}"#),
            spec("t", r#"{"type":"object"}"#),
        ];
        assert!(ToolSet::compile(&twice).unwrap_err().contains("twice"));
        assert!(
            ToolSet::compile(&[spec("t", "nope")])
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn a_reply_with_too_many_calls_is_cut() {
        let mut reply = ModelReply {
            text: String::new(),
            truncated: false,
            tool_calls: vec![call("bash", r#"{"command":"ls"}"#); MAX_TOOL_CALLS + 3],
        };
        tools().check_reply(&mut reply);
        assert_eq!(reply.tool_calls.len(), MAX_TOOL_CALLS);
        assert!(reply.truncated);
        assert!(reply.tool_calls.iter().all(|c| c.problem.is_none()));
    }
}
