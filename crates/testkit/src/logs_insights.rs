//! The saved CloudWatch Logs Insights queries of `infra/template.yaml`
//! (`AWS::Logs::QueryDefinition`), the fields and messages each names, and the fields and
//! messages a binary really logged (its JSON lines, nested objects flattened with dots as Logs
//! Insights discovers them). The Lambda's and the capture's tests run their binary and check
//! that every query names only what that binary logs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use serde_norway::Value as Yaml;

/// One saved query: its resource name, the log groups it reads (the template's resource
/// names, from `!Ref`) and its text.
#[derive(Debug, Clone)]
pub struct SavedQuery {
    pub resource: String,
    pub log_groups: Vec<String>,
    pub query: String,
}

/// Every `AWS::Logs::QueryDefinition` of the template.
pub fn saved_queries(template: &str) -> Vec<SavedQuery> {
    let yaml: Yaml = serde_norway::from_str(template).expect("the template parses as YAML");
    let resources = yaml["Resources"].as_mapping().expect("Resources");
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Logs::QueryDefinition"))
        .map(|(name, r)| {
            let properties = &r["Properties"];
            let log_groups = properties["LogGroupNames"]
                .as_sequence()
                .map(|groups| {
                    groups
                        .iter()
                        .map(|g| match g {
                            Yaml::Tagged(tagged) if tagged.tag == "Ref" => {
                                tagged.value.as_str().unwrap_or("?").to_owned()
                            }
                            other => format!("{other:?}"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            SavedQuery {
                resource: name.as_str().unwrap_or("?").to_owned(),
                log_groups,
                query: properties["QueryString"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect()
}

/// The saved queries of the repository's `infra/template.yaml` that read `log_group` (the
/// log group's resource name, e.g. `IndexerLogGroup`).
pub fn queries_reading(log_group: &str) -> Vec<SavedQuery> {
    let template = std::fs::read_to_string(crate::repo_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    saved_queries(&template)
        .into_iter()
        .filter(|q| q.log_groups.iter().any(|g| g == log_group))
        .collect()
}

/// Words of the query language that are no field: commands, operators, sort orders.
const KEYWORDS: &[&str] = &[
    "fields", "filter", "stats", "sort", "limit", "display", "parse", "dedup", "unnest", "by",
    "as", "and", "or", "not", "in", "like", "asc", "desc",
];

/// One token of a query.
#[derive(Debug, PartialEq)]
enum Token {
    /// A bare name (field, function, keyword, alias) or a backquoted field name.
    Name(String, bool),
    /// A string literal's content.
    Text(String),
    /// A regular expression `/.../`, a number or a punctuation character.
    Other(String),
}

fn tokens(query: &str) -> Vec<Token> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' || (c == '/' && regex_may_start(&out)) {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == c && chars[j - 1] != '\\')
                .unwrap_or(chars.len());
            let inner: String = chars[i + 1..end.min(chars.len())].iter().collect();
            out.push(match c {
                '`' => Token::Name(inner, true),
                '/' => Token::Other(format!("/{inner}/")),
                _ => Token::Text(inner),
            });
            i = end + 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' || c == '@' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_@.".contains(chars[i])) {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect(), false));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Other(chars[start..i].iter().collect()));
        } else {
            out.push(Token::Other(c.to_string()));
            i += 1;
        }
    }
    out
}

/// Whether a `/` here opens a regular expression (after `like`, `=~` or `parse FIELD`)
/// rather than dividing.
fn regex_may_start(before: &[Token]) -> bool {
    match before.last() {
        Some(Token::Name(word, false)) => word.eq_ignore_ascii_case("like"),
        Some(Token::Other(p)) => p == "~" || p == "(" || p == ",",
        _ => false,
    }
}

/// The log fields a query reads: names that are no keyword, no function (a name before `(`),
/// no alias the query defines (`... as NAME`) and no field Logs Insights makes itself
/// (`@timestamp`, `@message`, ...).
pub fn fields(query: &str) -> BTreeSet<String> {
    let tokens = tokens(query);
    let mut aliases = BTreeSet::new();
    for pair in tokens.windows(2) {
        if let [Token::Name(as_, false), Token::Name(alias, _)] = pair
            && as_.eq_ignore_ascii_case("as")
        {
            aliases.insert(alias.clone());
        }
    }
    let mut out = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Name(name, quoted) = token else {
            continue;
        };
        let called = matches!(tokens.get(i + 1), Some(Token::Other(p)) if p == "(");
        let keyword = !quoted && KEYWORDS.contains(&name.to_ascii_lowercase().as_str());
        // `bin(1h)`'s argument is a duration, not a field.
        let duration = matches!(i.checked_sub(2).and_then(|j| tokens.get(j)), Some(Token::Name(f, false)) if f == "bin");
        if called || keyword || duration || name.starts_with('@') || aliases.contains(name) {
            continue;
        }
        out.insert(name.clone());
    }
    out
}

/// The messages a query selects by equality: `FIELD = "TEXT"` and `FIELD in ["TEXT", ...]`
/// where FIELD is `message` (the Lambda's flattened events) or `fields.message` (the capture's).
pub fn messages(query: &str) -> BTreeSet<String> {
    let tokens = tokens(query);
    let mut out = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Name(name, _) = token else {
            continue;
        };
        if name != "message" && name != "fields.message" {
            continue;
        }
        match tokens.get(i + 1) {
            Some(Token::Other(eq)) if eq == "=" => {
                if let Some(Token::Text(text)) = tokens.get(i + 2) {
                    out.insert(text.clone());
                }
            }
            Some(Token::Name(in_, false)) if in_ == "in" => {
                for t in &tokens[i + 2..] {
                    match t {
                        Token::Text(text) => {
                            out.insert(text.clone());
                        }
                        Token::Other(p) if p == "]" => break,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// What a binary logged: every field path of its JSON lines (`span.request_id`,
/// `fields.message`: objects flattened with dots, as Logs Insights discovers them), every
/// message (`message` or `fields.message`) and which fields the lines of each message carry.
/// Lines that are not JSON objects are ignored.
#[derive(Debug, Default, Clone)]
pub struct Logged {
    pub fields: BTreeSet<String>,
    pub messages: BTreeSet<String>,
    pub fields_by_message: BTreeMap<String, BTreeSet<String>>,
}

impl Logged {
    pub fn add(&mut self, output: &str) {
        for line in output.lines() {
            let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let message = object
                .get("message")
                .or_else(|| object.get("fields").and_then(|f| f.get("message")))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut fields = BTreeSet::new();
            flatten("", &Value::Object(object), &mut fields);
            if let Some(message) = message {
                self.messages.insert(message.clone());
                self.fields_by_message
                    .entry(message)
                    .or_default()
                    .extend(fields.iter().cloned());
            }
            self.fields.extend(fields);
        }
    }

    /// What `query` names that was not logged, in words; empty when everything was. A query
    /// that selects messages (`message = "..."`, `message in [...]`) must find each of its
    /// fields on the lines of those messages, not merely somewhere.
    pub fn missing(&self, query: &SavedQuery) -> Vec<String> {
        let mut out = Vec::new();
        let selected = messages(&query.query);
        let on_selected: BTreeSet<&String> = selected
            .iter()
            .filter_map(|m| self.fields_by_message.get(m))
            .flatten()
            .collect();
        for field in fields(&query.query) {
            if !self.fields.contains(&field) {
                out.push(format!(
                    "{}: field {field:?} is never logged",
                    query.resource
                ));
            } else if !selected.is_empty()
                && !on_selected.contains(&field)
                && field != "message"
                && field != "fields.message"
            {
                out.push(format!(
                    "{}: field {field:?} is on no line of {selected:?}",
                    query.resource
                ));
            }
        }
        for message in messages(&query.query) {
            if !self.messages.contains(&message) {
                out.push(format!(
                    "{}: message {message:?} is never logged",
                    query.resource
                ));
            }
        }
        out
    }
}

impl Logged {
    /// Fails the test, naming every gap, unless each of `queries` names only what was logged.
    pub fn assert_covers(&self, queries: &[SavedQuery]) {
        let missing: Vec<String> = queries.iter().flat_map(|q| self.missing(q)).collect();
        assert!(
            missing.is_empty(),
            "{}\nlogged fields: {:?}",
            missing.join("\n"),
            self.fields
        );
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
    if let Value::Object(object) = value {
        for (key, value) in object {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            flatten(&path, value, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_leave_out_functions_keywords_aliases_literals_and_system_fields() {
        let query = r#"fields @timestamp, coalesce(object, task_id) as input, coalesce(error, reason) as why
            | filter level = "ERROR" and message like /not found/ and dead_lettered > 0 # a comment naming nothing
            | stats count(*) as failures, latest(@timestamp) as last_seen, sum(bytes_read) / 1048576 as MiB by input, why, bin(1h)
            | sort last_seen desc
            | limit 200"#;
        assert_eq!(
            fields(query),
            set(&[
                "object",
                "task_id",
                "error",
                "reason",
                "level",
                "message",
                "dead_lettered",
                "bytes_read"
            ])
        );
        assert_eq!(
            fields(
                "filter level in [\"WARN\"] | stats latest(`fields.error`) as e by `fields.message`"
            ),
            set(&["level", "fields.error", "fields.message"])
        );
    }

    #[test]
    fn messages_are_the_literals_message_is_compared_with() {
        assert_eq!(
            messages(
                r#"filter message in ["object indexed", "kinesis batch indexed"] and level = "INFO""#
            ),
            set(&["object indexed", "kinesis batch indexed"])
        );
        assert_eq!(
            messages(r#"filter `fields.message` = "connected to the stream""#),
            set(&["connected to the stream"])
        );
    }

    #[test]
    fn logged_fields_are_flattened_with_dots() {
        let mut logged = Logged::default();
        logged.add("{\"level\":\"INFO\",\"fields\":{\"message\":\"m\",\"error\":\"e\"},\"span\":{\"request_id\":\"r\"}}\nnot json\n{\"message\":\"n\",\"n\":1}");
        assert_eq!(
            logged.fields,
            set(&[
                "level",
                "fields",
                "fields.message",
                "fields.error",
                "span",
                "span.request_id",
                "message",
                "n"
            ])
        );
        assert_eq!(logged.messages, set(&["m", "n"]));
        let query = SavedQuery {
            resource: "Q".into(),
            log_groups: vec![],
            query: "filter message = \"gone\" | fields span.request_id, missing_field".into(),
        };
        assert_eq!(
            logged.missing(&query),
            vec![
                "Q: field \"missing_field\" is never logged".to_owned(),
                "Q: field \"span.request_id\" is on no line of {\"gone\"}".to_owned(),
                "Q: message \"gone\" is never logged".to_owned()
            ]
        );
        let query = SavedQuery {
            query: "filter message = \"n\" | fields n, level".into(),
            ..query
        };
        assert_eq!(
            logged.missing(&query),
            vec!["Q: field \"level\" is on no line of {\"n\"}".to_owned()]
        );
    }
}
