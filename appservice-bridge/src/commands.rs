//! Application commands: what a bot registers (globally, or for one guild)
//! so people can invoke it as `/name args`. Stored per application, checked
//! as Discord checks them, and answered back in Discord's shape.

use std::sync::Arc;

use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use serde_json::{Map, Value, json};

use crate::snowflake::{Kind, Snowflakes};
use crate::store::COMMANDS;

/// Discord's limits.
const MAX_COMMANDS: usize = 100;
const MAX_OPTIONS: usize = 25;
const MAX_CHOICES: usize = 25;

/// Option types (Discord's values).
pub mod option_type {
    pub const SUB_COMMAND: u64 = 1;
    pub const SUB_COMMAND_GROUP: u64 = 2;
    pub const STRING: u64 = 3;
    pub const INTEGER: u64 = 4;
    pub const BOOLEAN: u64 = 5;
    pub const USER: u64 = 6;
    pub const CHANNEL: u64 = 7;
    pub const ROLE: u64 = 8;
    pub const MENTIONABLE: u64 = 9;
    pub const NUMBER: u64 = 10;
    pub const ATTACHMENT: u64 = 11;
}

/// Command types: only chat-input commands can be typed; user and message
/// commands (context menus) are stored and listed like Discord does.
const CHAT_INPUT: u64 = 1;

/// Why a command was refused: the field and the problem, for 50035.
#[derive(Debug)]
pub struct Invalid {
    pub field: String,
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

fn key(application: u64, guild: u64, command: u64) -> Vec<u8> {
    [application.to_be_bytes(), guild.to_be_bytes(), command.to_be_bytes()].concat()
}

fn scope_prefix(application: u64, guild: u64) -> Vec<u8> {
    [application.to_be_bytes(), guild.to_be_bytes()].concat()
}

/// A valid command or option name: 1–32 characters, lower case letters,
/// digits, `-` and `_` (Discord's rule for chat-input commands).
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.chars().count())
        && name.chars().all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
}

fn text_field(object: &Map<String, Value>, field: &str, path: &str, max: usize) -> Result<String, Invalid> {
    let text = object.get(field).and_then(Value::as_str).unwrap_or_default();
    if !(1..=max).contains(&text.chars().count()) {
        return Err(invalid(format!("{path}{field}"), format!("Must be between 1 and {max} in length.")));
    }
    Ok(text.to_owned())
}

/// One option of a command, checked; `depth` 0 is the command's own list.
fn checked_option(option: &Value, path: &str, depth: usize) -> Result<Value, Invalid> {
    let object = option.as_object().ok_or_else(|| invalid(path, "Must be an object."))?;
    let kind = object.get("type").and_then(Value::as_u64).unwrap_or(0);
    if !(option_type::SUB_COMMAND..=option_type::ATTACHMENT).contains(&kind) {
        return Err(invalid(format!("{path}type"), "Value is not a valid option type."));
    }
    let name = object.get("name").and_then(Value::as_str).unwrap_or_default();
    if !valid_name(name) {
        return Err(invalid(format!("{path}name"), "Command name is invalid"));
    }
    let description = text_field(object, "description", path, 100)?;
    let mut checked = json!({"type": kind, "name": name, "description": description});
    let nested = kind == option_type::SUB_COMMAND || kind == option_type::SUB_COMMAND_GROUP;
    if nested {
        // A group holds sub-commands; a sub-command holds plain options.
        if depth >= 2 || (kind == option_type::SUB_COMMAND_GROUP && depth == 1) {
            return Err(invalid(format!("{path}type"), "Sub-commands cannot be nested this deep."));
        }
        let children = object.get("options").and_then(Value::as_array).cloned().unwrap_or_default();
        checked["options"] = Value::Array(checked_options(&children, &format!("{path}options."), depth + 1)?);
        if kind == option_type::SUB_COMMAND_GROUP
            && checked["options"].as_array().is_some_and(|o| o.iter().any(|c| c["type"] != option_type::SUB_COMMAND))
        {
            return Err(invalid(format!("{path}options"), "A group holds only sub-commands."));
        }
        return Ok(checked);
    }
    if object.get("required").and_then(Value::as_bool) == Some(true) {
        checked["required"] = json!(true);
    }
    if let Some(choices) = object.get("choices").and_then(Value::as_array) {
        if choices.len() > MAX_CHOICES {
            return Err(invalid(format!("{path}choices"), "Must be 25 or fewer in length."));
        }
        for (i, choice) in choices.iter().enumerate() {
            let ok = choice["name"].as_str().is_some_and(|n| (1..=100).contains(&n.chars().count()))
                && (choice["value"].is_string() || choice["value"].is_number());
            if !ok {
                return Err(invalid(format!("{path}choices.{i}"), "A choice has a name and a value."));
            }
        }
        checked["choices"] = Value::Array(choices.clone());
    }
    for bound in ["min_value", "max_value", "min_length", "max_length", "channel_types", "autocomplete"] {
        if let Some(value) = object.get(bound).filter(|v| !v.is_null()) {
            checked[bound] = value.clone();
        }
    }
    Ok(checked)
}

fn checked_options(options: &[Value], path: &str, depth: usize) -> Result<Vec<Value>, Invalid> {
    if options.len() > MAX_OPTIONS {
        return Err(invalid(path.trim_end_matches('.'), "Must be 25 or fewer in length."));
    }
    let mut checked = Vec::with_capacity(options.len());
    let mut seen_optional = false;
    for (i, option) in options.iter().enumerate() {
        let option = checked_option(option, &format!("{path}{i}."), depth)?;
        if checked.iter().any(|o: &Value| o["name"] == option["name"]) {
            return Err(invalid(format!("{path}{i}.name"), "Option names must be unique."));
        }
        // Discord's rule: required options come first.
        if option["required"] == true && seen_optional {
            return Err(invalid(
                format!("{path}{i}.required"),
                "Required options must be placed before optional options",
            ));
        }
        seen_optional |= option["required"] != true && option["options"].is_null();
        checked.push(option);
    }
    Ok(checked)
}

/// A command body as the bot sent it, checked; without ids.
pub fn checked_command(body: &Value) -> Result<Value, Invalid> {
    let object = body.as_object().ok_or_else(|| invalid("body", "Must be an object."))?;
    let kind = object.get("type").and_then(Value::as_u64).unwrap_or(CHAT_INPUT);
    if !(1..=4).contains(&kind) {
        return Err(invalid("type", "Value is not a valid command type."));
    }
    let name = object.get("name").and_then(Value::as_str).unwrap_or_default();
    let name_ok = if kind == CHAT_INPUT { valid_name(name) } else { (1..=32).contains(&name.chars().count()) };
    if !name_ok {
        return Err(invalid("name", "Command name is invalid"));
    }
    let description = if kind == CHAT_INPUT { text_field(object, "description", "", 100)? } else { String::new() };
    let options = object.get("options").and_then(Value::as_array).cloned().unwrap_or_default();
    let options = if kind == CHAT_INPUT { checked_options(&options, "options.", 0)? } else { Vec::new() };
    let permissions = match object.get("default_member_permissions") {
        Some(Value::String(bits)) if bits.parse::<u64>().is_ok() => json!(bits),
        Some(Value::Number(bits)) if bits.is_u64() => json!(bits.to_string()),
        None | Some(Value::Null) => Value::Null,
        Some(_) => return Err(invalid("default_member_permissions", "Must be a permission bit set.")),
    };
    Ok(json!({
        "type": kind,
        "name": name,
        "name_localizations": null,
        "description": description,
        "description_localizations": null,
        "options": options,
        "default_member_permissions": permissions,
        "dm_permission": object.get("dm_permission").and_then(Value::as_bool).unwrap_or(true),
        "nsfw": object.get("nsfw").and_then(Value::as_bool).unwrap_or(false),
        "integration_types": [0],
        "contexts": null,
    }))
}

/// Every application's commands.
pub struct Commands {
    store: Arc<dyn Store>,
    snowflakes: Arc<Snowflakes>,
}

impl Commands {
    pub fn new(store: Arc<dyn Store>, snowflakes: Arc<Snowflakes>) -> Commands {
        Commands { store, snowflakes }
    }

    /// The commands of one scope (`guild` 0: the global ones).
    pub async fn list(&self, application: u64, guild: u64) -> anyhow::Result<Vec<Value>> {
        let range = KeyRange::prefix(&scope_prefix(application, guild));
        let rows = self.store.scan(&COMMANDS, range, Direction::Forward, MAX_COMMANDS * 2).await?;
        rows.into_iter().map(|(_, value)| Ok(serde_json::from_slice(&value)?)).collect()
    }

    pub async fn get(&self, application: u64, guild: u64, command: u64) -> anyhow::Result<Option<Value>> {
        let found = self.store.get(&COMMANDS, &key(application, guild, command)).await?;
        Ok(found.map(|v| serde_json::from_slice(&v)).transpose()?)
    }

    /// Creates a command, or replaces the one of the same name and type
    /// (keeping its id, as Discord does). True when it was new.
    pub async fn upsert(&self, application: u64, guild: u64, checked: Value) -> anyhow::Result<(Value, bool)> {
        let existing = self.list(application, guild).await?;
        let same = existing.iter().find(|c| c["name"] == checked["name"] && c["type"] == checked["type"]);
        let id = match same {
            Some(command) => command["id"].as_str().and_then(crate::snowflake::parse).unwrap_or(0),
            None => self.snowflakes.fresh(Kind::Command).await?,
        };
        let command = self.with_ids(application, guild, id, checked).await?;
        self.store.put(&COMMANDS, &key(application, guild, id), &serde_json::to_vec(&command)?).await?;
        Ok((command, same.is_none()))
    }

    /// Replaces the whole scope with `commands` (already checked), keeping
    /// the ids of those whose name and type stay.
    pub async fn overwrite(&self, application: u64, guild: u64, commands: Vec<Value>) -> anyhow::Result<Vec<Value>> {
        let existing = self.list(application, guild).await?;
        let mut batch = WriteBatch::new();
        let mut written = Vec::with_capacity(commands.len());
        for checked in commands {
            let same = existing.iter().find(|c| c["name"] == checked["name"] && c["type"] == checked["type"]);
            let id = match same.and_then(|c| c["id"].as_str()).and_then(crate::snowflake::parse) {
                Some(id) => id,
                None => self.snowflakes.fresh(Kind::Command).await?,
            };
            let command = self.with_ids(application, guild, id, checked).await?;
            batch.put(&COMMANDS, key(application, guild, id).to_vec(), serde_json::to_vec(&command)?);
            written.push(command);
        }
        for old in &existing {
            let id = old["id"].as_str().and_then(crate::snowflake::parse).unwrap_or(0);
            if !written.iter().any(|c| c["id"] == old["id"]) {
                batch.delete(&COMMANDS, key(application, guild, id).to_vec());
            }
        }
        self.store.write(batch).await?;
        Ok(written)
    }

    /// Edits a command: the fields given replace the stored ones.
    pub async fn edit(
        &self,
        application: u64,
        guild: u64,
        command: u64,
        changes: &Value,
    ) -> anyhow::Result<Option<Result<Value, Invalid>>> {
        let Some(mut stored) = self.get(application, guild, command).await? else { return Ok(None) };
        if let (Some(stored), Some(changes)) = (stored.as_object_mut(), changes.as_object()) {
            for (field, value) in changes {
                stored.insert(field.clone(), value.clone());
            }
        }
        let checked = match checked_command(&stored) {
            Ok(checked) => checked,
            Err(invalid) => return Ok(Some(Err(invalid))),
        };
        let updated = self.with_ids(application, guild, command, checked).await?;
        self.store.put(&COMMANDS, &key(application, guild, command), &serde_json::to_vec(&updated)?).await?;
        Ok(Some(Ok(updated)))
    }

    /// True when it existed.
    pub async fn delete(&self, application: u64, guild: u64, command: u64) -> anyhow::Result<bool> {
        let key = key(application, guild, command);
        if self.store.get(&COMMANDS, &key).await?.is_none() {
            return Ok(false);
        }
        self.store.delete(&COMMANDS, &key).await?;
        Ok(true)
    }

    /// The chat-input command `name` a person can invoke in a guild's
    /// channel: the guild's own, else the global one.
    pub async fn find(&self, application: u64, guild: Option<u64>, name: &str) -> anyhow::Result<Option<Value>> {
        for scope in guild.into_iter().chain([0]) {
            let found = self.list(application, scope).await?;
            if let Some(command) = found.into_iter().find(|c| c["name"] == name && c["type"] == CHAT_INPUT) {
                return Ok(Some(command));
            }
        }
        Ok(None)
    }

    async fn with_ids(&self, application: u64, guild: u64, id: u64, mut command: Value) -> anyhow::Result<Value> {
        command["id"] = json!(id.to_string());
        command["application_id"] = json!(application.to_string());
        if guild != 0 {
            command["guild_id"] = json!(guild.to_string());
        }
        // Every change is a new version, as on Discord.
        command["version"] = json!(self.snowflakes.fresh(Kind::Command).await?.to_string());
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_checked_like_discord_checks_them() {
        let good = json!({"name": "echo", "description": "Says it back", "options": [
            {"type": 3, "name": "text", "description": "What to say", "required": true},
            {"type": 5, "name": "loud", "description": "Shout"},
        ]});
        let checked = checked_command(&good).unwrap();
        assert_eq!(checked["options"][0]["required"], true);
        assert_eq!(checked["options"][1].get("required"), None);
        for bad in [
            json!({"name": "Echo", "description": "upper case"}),
            json!({"name": "echo", "description": ""}),
            json!({"name": "echo", "description": "d", "options": [{"type": 99, "name": "x", "description": "d"}]}),
            json!({"name": "echo", "description": "d", "options": [
                {"type": 3, "name": "a", "description": "d"},
                {"type": 3, "name": "b", "description": "d", "required": true},
            ]}),
            json!({"name": "echo", "description": "d", "options": [
                {"type": 2, "name": "g", "description": "d", "options": [
                    {"type": 2, "name": "h", "description": "d"}]}]}),
            json!("not an object"),
        ] {
            assert!(checked_command(&bad).is_err(), "{bad}");
        }
    }
}
