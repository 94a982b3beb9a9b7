//! A typed command line (`/name args`) read against the command's
//! registered options, as Discord's client would have filled them in:
//! `name:value` pairs in any order, then positional values in the options'
//! order; a string option takes the rest of the line unless a required
//! option follows it. Sub-commands
//! (and groups) are the first words.

use serde_json::{Value, json};

use crate::commands::option_type as t;

/// A value that names something: resolved to a snowflake by the caller.
#[derive(Clone, Debug, PartialEq)]
pub enum Reference {
    /// A Matrix user id.
    User(String),
    /// A room id or alias.
    Channel(String),
    /// A role's name.
    Role(String),
}

/// One filled-in option: `value` is JSON for plain values; references are
/// set aside with the option's path so the caller can resolve them.
#[derive(Clone, Debug, PartialEq)]
pub struct Filled {
    pub name: String,
    pub kind: u64,
    pub value: Option<Value>,
    pub reference: Option<Reference>,
    pub options: Vec<Filled>,
}

/// `"/echo hello world"` → `("echo", "hello world")`.
pub fn invocation(body: &str) -> Option<(&str, &str)> {
    let line = body.strip_prefix('/')?;
    if line.starts_with('/') {
        return None;
    }
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    (!name.is_empty()).then_some((name, rest.trim()))
}

/// Words, with `"double quoted"` spans (also after `name:`) kept whole.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(current);
    }
    words
}

/// Fills `schema` (a command's `options`) from `args`. `mentions` are the
/// message's `m.mentions` user ids, for user options typed as pills.
pub fn fill(schema: &[Value], args: &str, mentions: &[String]) -> Result<Vec<Filled>, String> {
    let mut words = words(args);
    let mut mentions = mentions.iter();
    fill_level(schema, &mut words, &mut mentions)
}

fn fill_level(
    schema: &[Value],
    words: &mut Vec<String>,
    mentions: &mut std::slice::Iter<'_, String>,
) -> Result<Vec<Filled>, String> {
    let nested = schema.iter().any(|o| o["type"] == t::SUB_COMMAND || o["type"] == t::SUB_COMMAND_GROUP);
    if nested {
        let names: Vec<&str> = schema.iter().filter_map(|o| o["name"].as_str()).collect();
        if words.is_empty() {
            return Err(format!("choose one of: {}", names.join(", ")));
        }
        let first = words.remove(0);
        let chosen = schema
            .iter()
            .find(|o| o["name"] == first.as_str())
            .ok_or_else(|| format!("{first:?} is not one of: {}", names.join(", ")))?;
        let children = chosen["options"].as_array().map(Vec::as_slice).unwrap_or_default();
        return Ok(vec![Filled {
            name: first,
            kind: chosen["type"].as_u64().unwrap_or(t::SUB_COMMAND),
            value: None,
            reference: None,
            options: fill_level(children, words, mentions)?,
        }]);
    }
    // Named values first (`name:value`), then positional ones in order.
    let mut given: Vec<(usize, String)> = Vec::new();
    let mut positional = Vec::new();
    for word in words.drain(..) {
        let named = word
            .split_once(':')
            .and_then(|(name, value)| schema.iter().position(|o| o["name"] == name).map(|i| (i, value.to_owned())));
        match named {
            Some((i, _)) if given.iter().any(|(g, _)| *g == i) => return Err(format!("{word:?} is given twice")),
            Some(named) => given.push(named),
            None => positional.push(word),
        }
    }
    let mut positional = positional.into_iter().peekable();
    for (i, option) in schema.iter().enumerate() {
        if positional.peek().is_none() {
            break;
        }
        if given.iter().any(|(g, _)| *g == i) {
            continue;
        }
        // A string takes the rest of the line unless a required option is
        // still to come (optional ones after it are given by name).
        let required_later = schema
            .iter()
            .enumerate()
            .skip(i + 1)
            .any(|(j, o)| o["required"] == true && !given.iter().any(|(g, _)| *g == j));
        let value = if option["type"] == t::STRING && !required_later {
            positional.by_ref().collect::<Vec<_>>().join(" ")
        } else {
            positional.next().unwrap_or_default()
        };
        given.push((i, value));
    }
    if let Some(extra) = positional.next() {
        return Err(format!("{extra:?} is one word too many"));
    }
    given.sort_by_key(|(i, _)| *i);
    for option in schema.iter().filter(|o| o["required"] == true) {
        let name = option["name"].as_str().unwrap_or_default();
        if !given.iter().any(|(i, _)| schema[*i]["name"] == name) {
            return Err(format!("{name} is required"));
        }
    }
    given.into_iter().map(|(i, text)| typed(&schema[i], &text, mentions)).collect()
}

fn typed(option: &Value, text: &str, mentions: &mut std::slice::Iter<'_, String>) -> Result<Filled, String> {
    let name = option["name"].as_str().unwrap_or_default().to_owned();
    let kind = option["type"].as_u64().unwrap_or(t::STRING);
    let mut filled = Filled { name: name.clone(), kind, value: None, reference: None, options: Vec::new() };
    let choices = option["choices"].as_array();
    // A person types what they see: a choice's name stands for its value,
    // whatever the option's type.
    if let Some(chosen) = choices.and_then(|all| all.iter().find(|c| c["name"].as_str() == Some(text))) {
        filled.value = Some(chosen["value"].clone());
        return Ok(filled);
    }
    match kind {
        t::STRING => {
            let length = text.chars().count() as u64;
            if option["min_length"].as_u64().is_some_and(|min| length < min)
                || option["max_length"].as_u64().is_some_and(|max| length > max)
            {
                return Err(format!("{name}: the length is out of bounds"));
            }
            filled.value = Some(json!(text));
        }
        t::INTEGER => {
            let n: i64 = text.parse().map_err(|_| format!("{name}: {text:?} is not a whole number"))?;
            bounded(option, &name, n as f64)?;
            filled.value = Some(json!(n));
        }
        t::NUMBER => {
            let n: f64 =
                text.parse().ok().filter(|n: &f64| n.is_finite()).ok_or(format!("{name}: {text:?} is not a number"))?;
            bounded(option, &name, n)?;
            filled.value = Some(json!(n));
        }
        t::BOOLEAN => {
            let b = match text.to_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" => false,
                _ => return Err(format!("{name}: {text:?} is not true or false")),
            };
            filled.value = Some(json!(b));
        }
        t::USER => {
            filled.reference =
                Some(Reference::User(user(text, mentions).ok_or(format!("{name}: {text:?} is not a user"))?))
        }
        t::CHANNEL => {
            let room = room(text).ok_or(format!("{name}: {text:?} is not a room id or alias"))?;
            filled.reference = Some(Reference::Channel(room));
        }
        t::ROLE => filled.reference = Some(Reference::Role(text.trim_start_matches('@').to_owned())),
        t::MENTIONABLE => {
            filled.reference =
                Some(match user(text, mentions).filter(|_| text.starts_with('@') || !text.contains(' ')) {
                    Some(user) if user.contains(':') => Reference::User(user),
                    _ => Reference::Role(text.trim_start_matches('@').to_owned()),
                })
        }
        _ => return Err(format!("{name}: attachments cannot be typed")),
    }
    if let Some(choices) = choices {
        let value = filled.value.clone().unwrap_or(Value::Null);
        let chosen = choices.iter().find(|c| same_value(&c["value"], &value));
        let chosen = chosen.ok_or_else(|| {
            let names: Vec<&str> = choices.iter().filter_map(|c| c["name"].as_str()).collect();
            format!("{name}: choose one of {}", names.join(", "))
        })?;
        filled.value = Some(chosen["value"].clone());
    }
    Ok(filled)
}

/// A choice's value and a typed one, compared as Discord compares them: a
/// NUMBER typed as `2` is parsed as 2.0, which must still pick the choice
/// stored as `2` (JSON's integers and floats are one kind of number there).
fn same_value(choice: &Value, typed: &Value) -> bool {
    match (choice, typed) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a == b),
        _ => choice == typed,
    }
}

fn bounded(option: &Value, name: &str, n: f64) -> Result<(), String> {
    if option["min_value"].as_f64().is_some_and(|min| n < min)
        || option["max_value"].as_f64().is_some_and(|max| n > max)
    {
        return Err(format!("{name}: {n} is out of bounds"));
    }
    Ok(())
}

/// A user id as typed (`@alice:example.org`, a matrix.to link) or, for a
/// pill (whose text is a display name), the next mentioned user.
fn user(text: &str, mentions: &mut std::slice::Iter<'_, String>) -> Option<String> {
    let text = text.trim_start_matches("https://matrix.to/#/");
    if text.starts_with('@') && text.contains(':') {
        return Some(text.to_owned());
    }
    mentions.next().cloned()
}

fn room(text: &str) -> Option<String> {
    let text = text.trim_start_matches("https://matrix.to/#/");
    ((text.starts_with('#') || text.starts_with('!')) && text.contains(':')).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<Value> {
        serde_json::from_value(json!([
            {"type": 4, "name": "times", "description": "d", "required": true, "min_value": 1, "max_value": 5},
            {"type": 3, "name": "text", "description": "d", "required": true},
            {"type": 5, "name": "loud", "description": "d"},
        ]))
        .unwrap()
    }

    #[test]
    fn command_lines_split_into_name_and_arguments() {
        assert_eq!(invocation("/echo hello  world"), Some(("echo", "hello  world")));
        assert_eq!(invocation("/ping"), Some(("ping", "")));
        assert_eq!(invocation("//not a command"), None);
        assert_eq!(invocation("no slash"), None);
    }

    #[test]
    fn positional_and_named_values_fill_the_schema() {
        let filled = fill(&schema(), "3 hello there", &[]).unwrap();
        assert_eq!(filled.len(), 2);
        assert_eq!(filled[0].value, Some(json!(3)));
        assert_eq!(filled[1].value, Some(json!("hello there")));
        let filled = fill(&schema(), r#"loud:yes text:"a b" times:2"#, &[]).unwrap();
        let values: Vec<_> = filled.iter().map(|f| f.value.clone().unwrap()).collect();
        assert_eq!(values, [json!(2), json!("a b"), json!(true)]);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        assert!(fill(&schema(), "9 hi", &[]).unwrap_err().contains("out of bounds"));
        assert!(fill(&schema(), "two hi", &[]).unwrap_err().contains("whole number"));
        assert!(fill(&schema(), "2", &[]).unwrap_err().contains("text is required"));
        assert!(fill(&schema(), "times:1 times:2 x", &[]).unwrap_err().contains("twice"));
    }

    #[test]
    fn a_number_typed_whole_picks_its_choice() {
        let schema: Vec<Value> = serde_json::from_value(json!([
            {"type": 10, "name": "speed", "description": "d", "required": true,
             "choices": [{"name": "slow", "value": 0.5}, {"name": "normal", "value": 2}]},
        ]))
        .unwrap();
        assert_eq!(fill(&schema, "2", &[]).unwrap()[0].value, Some(json!(2)));
        assert_eq!(fill(&schema, "0.5", &[]).unwrap()[0].value, Some(json!(0.5)));
        assert_eq!(fill(&schema, "normal", &[]).unwrap()[0].value, Some(json!(2)));
        assert!(fill(&schema, "3", &[]).unwrap_err().contains("choose one of slow, normal"));
    }

    #[test]
    fn sub_commands_and_references() {
        let schema: Vec<Value> = serde_json::from_value(json!([
            {"type": 1, "name": "kick", "description": "d", "options": [
                {"type": 6, "name": "who", "description": "d", "required": true}]},
            {"type": 1, "name": "list", "description": "d"},
        ]))
        .unwrap();
        let filled = fill(&schema, "kick @bob:example.org", &[]).unwrap();
        assert_eq!(filled[0].name, "kick");
        assert_eq!(filled[0].options[0].reference, Some(Reference::User("@bob:example.org".into())));
        let pill = fill(&schema, "kick Bob", &["@bob:example.org".to_owned()]).unwrap();
        assert_eq!(pill[0].options[0].reference, Some(Reference::User("@bob:example.org".into())));
        assert!(fill(&schema, "ban x", &[]).is_err());
    }
}
