//! A JSON Schema (draft 2020-12) validator for the keywords the schemas in
//! `schemas/` use. Unknown keywords panic, so the schemas cannot drift into
//! features this validator does not check.

use serde_json::{Map, Value};

use super::regex::Regex;

const ANNOTATIONS: &[&str] =
    &["$schema", "$id", "$comment", "title", "description", "default", "examples", "format", "deprecated", "$defs"];

pub fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
    Validator { root: schema }.check(schema, instance, "$")
}

struct Validator<'a> {
    root: &'a Value,
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

fn number(v: &Value) -> f64 {
    v.as_f64().expect("numeric keyword")
}

impl Validator<'_> {
    fn resolve(&self, reference: &str) -> &Value {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("only local $ref supported: {reference}"));
        self.root.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }

    fn check(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let obj = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: nothing is allowed here")),
            Value::Object(obj) => obj,
            other => panic!("schema must be an object or boolean, got {other}"),
        };
        for (keyword, arg) in obj {
            if ANNOTATIONS.contains(&keyword.as_str()) {
                continue;
            }
            self.keyword(obj, keyword, arg, v, at)?;
        }
        Ok(())
    }

    fn keyword(
        &self,
        schema: &Map<String, Value>,
        keyword: &str,
        arg: &Value,
        v: &Value,
        at: &str,
    ) -> Result<(), String> {
        let fail = |msg: String| Err(format!("{at}: {msg}"));
        match keyword {
            "$ref" => self.check(self.resolve(arg.as_str().unwrap()), v, at),
            "type" => {
                let ok = match arg {
                    Value::String(t) => type_matches(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
                    _ => panic!("bad type keyword"),
                };
                if ok { Ok(()) } else { fail(format!("{v} is not of type {arg}")) }
            }
            "enum" => {
                if arg.as_array().unwrap().contains(v) {
                    Ok(())
                } else {
                    fail(format!("{v} not in {arg}"))
                }
            }
            "const" => {
                if arg == v {
                    Ok(())
                } else {
                    fail(format!("{v} is not {arg}"))
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                let Some(n) = v.as_f64() else { return Ok(()) };
                let limit = number(arg);
                let ok = match keyword {
                    "minimum" => n >= limit,
                    "maximum" => n <= limit,
                    "exclusiveMinimum" => n > limit,
                    _ => n < limit,
                };
                if ok { Ok(()) } else { fail(format!("{n} violates {keyword} {limit}")) }
            }
            "minLength" | "maxLength" => {
                let Some(s) = v.as_str() else { return Ok(()) };
                let len = s.chars().count() as f64;
                let ok = if keyword == "minLength" { len >= number(arg) } else { len <= number(arg) };
                if ok { Ok(()) } else { fail(format!("length {len} violates {keyword} {arg}")) }
            }
            "pattern" => {
                let Some(s) = v.as_str() else { return Ok(()) };
                if Regex::new(arg.as_str().unwrap()).is_match(s) {
                    Ok(())
                } else {
                    fail(format!("{s:?} does not match {arg}"))
                }
            }
            "minItems" | "maxItems" | "uniqueItems" | "items" => {
                let Some(items) = v.as_array() else { return Ok(()) };
                match keyword {
                    "minItems" if (items.len() as f64) < number(arg) => fail(format!("fewer than {arg} items")),
                    "maxItems" if (items.len() as f64) > number(arg) => fail(format!("more than {arg} items")),
                    "uniqueItems" if arg == &Value::Bool(true) => {
                        for (i, a) in items.iter().enumerate() {
                            if items[..i].contains(a) {
                                return fail(format!("duplicate item {a}"));
                            }
                        }
                        Ok(())
                    }
                    "items" => {
                        for (i, item) in items.iter().enumerate() {
                            self.check(arg, item, &format!("{at}[{i}]"))?;
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
            "properties"
            | "patternProperties"
            | "additionalProperties"
            | "required"
            | "propertyNames"
            | "minProperties"
            | "maxProperties"
            | "dependentRequired" => {
                let Some(fields) = v.as_object() else { return Ok(()) };
                self.object_keyword(schema, keyword, arg, fields, at)
            }
            "allOf" => {
                for sub in arg.as_array().unwrap() {
                    self.check(sub, v, at)?;
                }
                Ok(())
            }
            "anyOf" => {
                if arg.as_array().unwrap().iter().any(|s| self.check(s, v, at).is_ok()) {
                    Ok(())
                } else {
                    fail("no anyOf branch matches".into())
                }
            }
            "oneOf" => {
                let matching = arg.as_array().unwrap().iter().filter(|s| self.check(s, v, at).is_ok()).count();
                if matching == 1 { Ok(()) } else { fail(format!("{matching} oneOf branches match")) }
            }
            "not" => {
                if self.check(arg, v, at).is_ok() {
                    fail(format!("must not match {arg}"))
                } else {
                    Ok(())
                }
            }
            "if" => {
                let branch = if self.check(arg, v, at).is_ok() { "then" } else { "else" };
                match schema.get(branch) {
                    Some(sub) => self.check(sub, v, at),
                    None => Ok(()),
                }
            }
            "then" | "else" => Ok(()),
            other => panic!("unsupported keyword {other:?}"),
        }
    }

    fn object_keyword(
        &self,
        schema: &Map<String, Value>,
        keyword: &str,
        arg: &Value,
        fields: &Map<String, Value>,
        at: &str,
    ) -> Result<(), String> {
        let fail = |msg: String| Err(format!("{at}: {msg}"));
        match keyword {
            "properties" => {
                for (name, sub) in arg.as_object().unwrap() {
                    if let Some(value) = fields.get(name) {
                        self.check(sub, value, &format!("{at}.{name}"))?;
                    }
                }
                Ok(())
            }
            "patternProperties" => {
                for (pattern, sub) in arg.as_object().unwrap() {
                    let re = Regex::new(pattern);
                    for (name, value) in fields {
                        if re.is_match(name) {
                            self.check(sub, value, &format!("{at}.{name}"))?;
                        }
                    }
                }
                Ok(())
            }
            "additionalProperties" => {
                let declared = schema.get("properties").and_then(Value::as_object);
                let patterns: Vec<Regex> = schema
                    .get("patternProperties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(|k| Regex::new(k)).collect())
                    .unwrap_or_default();
                for (name, value) in fields {
                    let covered =
                        declared.is_some_and(|d| d.contains_key(name)) || patterns.iter().any(|re| re.is_match(name));
                    if !covered {
                        self.check(arg, value, &format!("{at}.{name}"))?;
                    }
                }
                Ok(())
            }
            "required" => {
                for name in arg.as_array().unwrap() {
                    if !fields.contains_key(name.as_str().unwrap()) {
                        return fail(format!("missing required {name}"));
                    }
                }
                Ok(())
            }
            "propertyNames" => {
                for name in fields.keys() {
                    self.check(arg, &Value::String(name.clone()), &format!("{at} key {name:?}"))?;
                }
                Ok(())
            }
            "minProperties" if (fields.len() as f64) < number(arg) => fail(format!("fewer than {arg} properties")),
            "maxProperties" if (fields.len() as f64) > number(arg) => fail(format!("more than {arg} properties")),
            "dependentRequired" => {
                for (name, needs) in arg.as_object().unwrap() {
                    if fields.contains_key(name) {
                        for need in needs.as_array().unwrap() {
                            if !fields.contains_key(need.as_str().unwrap()) {
                                return fail(format!("{name} requires {need}"));
                            }
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate;
    use serde_json::json;

    #[test]
    fn core_keywords() {
        let schema = json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 3}},
            "required": ["n"],
            "patternProperties": {"\\.": true},
            "additionalProperties": false,
            "dependentRequired": {"a.b": ["n"]},
            "not": {"required": ["x.y", "a.b"]}
        });
        assert!(validate(&schema, &json!({"n": 2})).is_ok());
        assert!(validate(&schema, &json!({"n": 4})).is_err());
        assert!(validate(&schema, &json!({"n": 1.5})).is_err());
        assert!(validate(&schema, &json!({})).is_err());
        assert!(validate(&schema, &json!({"n": 1, "other": 1})).is_err());
        assert!(validate(&schema, &json!({"n": 1, "a.b": 1})).is_ok());
        assert!(validate(&schema, &json!({"n": 1, "a.b": 1, "x.y": 1})).is_err());
    }

    #[test]
    fn combinators_and_refs() {
        let schema = json!({
            "$defs": {"small": {"type": "integer", "maximum": 5}},
            "oneOf": [{"$ref": "#/$defs/small"}, {"type": "string"}],
            "if": {"type": "integer"}, "then": {"minimum": 1}, "else": {"maxLength": 2}
        });
        assert!(validate(&schema, &json!(3)).is_ok());
        assert!(validate(&schema, &json!(0)).is_err());
        assert!(validate(&schema, &json!(9)).is_err());
        assert!(validate(&schema, &json!("ab")).is_ok());
        assert!(validate(&schema, &json!("abc")).is_err());
    }

    #[test]
    fn arrays() {
        let schema = json!({"type": "array", "items": {"enum": [1, 2, 3]}, "maxItems": 2, "uniqueItems": true});
        assert!(validate(&schema, &json!([1, 2])).is_ok());
        assert!(validate(&schema, &json!([1, 1])).is_err());
        assert!(validate(&schema, &json!([1, 2, 3])).is_err());
        assert!(validate(&schema, &json!([4])).is_err());
    }
}
