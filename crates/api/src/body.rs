//! Request bodies as the service reads them, on their own: the JSON parsing every body goes
//! through, and the whole check of the bodies that create or change keys, roll them, verify them
//! and sign in. The service answers with these; the fuzz targets run them on arbitrary bytes.
//! A failure names where it happened and never repeats the value found there.

use std::fmt;
use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::rules::{self, RuleError};
use crate::{CreateKeyRequest, LoginRequest, RollKeyRequest, UpdateKeyRequest, VerifyRequest};

/// Why a body is refused: as a whole (not JSON, not an object), or for one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    Body(String),
    Field(RuleError),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Body(message) => f.write_str(message),
            BodyError::Field(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<RuleError> for BodyError {
    fn from(e: RuleError) -> Self {
        BodyError::Field(e)
    }
}

/// Parses JSON into `T`, describing a failure by where it happened and what was expected,
/// never by the value found there (which might be a secret).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    // Every body is an object. serde would also fill a struct from an array, by position
    // (`["name", ["read"]]`), which the API does not offer (found by a property test).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(BodyError::Body(
            "The request body must be a JSON object.".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        describe(e.into_inner(), &path)
    })?;
    de.end().map_err(|e| describe(e, "."))?;
    Ok(value)
}

fn describe(e: serde_json::Error, path: &str) -> BodyError {
    match e.classify() {
        Category::Data => {
            let message = e.to_string();
            let problem = data_problem(&message);
            // An unknown field's path is the name the caller made up: said as the body's problem.
            if path == "." || !field_like(path) || message.starts_with("unknown field") {
                BodyError::Body(format!("The request body does not fit: {problem}."))
            } else {
                BodyError::Field(RuleError {
                    field: path.to_owned(),
                    problem,
                })
            }
        }
        Category::Eof => {
            BodyError::Body("The request body is empty or ends before its JSON is complete.".into())
        }
        Category::Syntax | Category::Io => BodyError::Body(format!(
            "The request body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        )),
    }
}

/// serde's description of a data error without the offending value: "invalid type: string
/// "…", expected u32" becomes "expected u32".
fn data_problem(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // An unknown field is named when its name looks like a field's (a typo: `nmae`), so that
    // the caller sees what to fix; anything else it made up is not repeated.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or(("", rest));
        let expected = expected.trim_start_matches(',').trim();
        return if field_like(name) {
            format!("has an unknown field `{name}`; {expected}")
        } else {
            format!("has a field this request does not take; {expected}")
        };
    }
    let echoes_value = ["invalid type: ", "invalid value: ", "unknown variant "]
        .iter()
        .any(|p| message.starts_with(p));
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if echoes_value => format!("expected {expected}"),
        _ if echoes_value => "has the wrong type or value".to_owned(),
        _ => message.to_owned(),
    }
}

/// Whether a path where parsing failed can be named as a field: segments of a-z and '_' (the
/// API's field names) and list indexes. A key the body made up — empty, or anything the caller
/// typed, a secret perhaps — is not repeated.
fn field_like(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 64
        && path.split('.').all(|segment| {
            let name = segment.split('[').next().unwrap_or("");
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && segment[name.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'[' || b == b']')
        })
}

/// `POST /v1/keys`: parsed and checked as the service does before it stores anything.
pub fn create_key(
    body: &[u8],
    offered_scopes: &[String],
    now: i64,
) -> Result<rules::KeyFields, BodyError> {
    let req: CreateKeyRequest = parse(body)?;
    Ok(rules::new_key(&req, offered_scopes, now)?)
}

/// `PATCH /v1/keys/{id}`: parsed and checked as the service does once it has found the key (a
/// key with no origins, here).
pub fn update_key(
    body: &[u8],
    offered_scopes: &[String],
    now: i64,
) -> Result<rules::KeyChanges, BodyError> {
    let req: UpdateKeyRequest = parse(body)?;
    Ok(rules::key_changes(&req, offered_scopes, &[], now)?)
}

/// `POST /v1/keys/{id}/roll`.
pub fn roll_key(body: &[u8]) -> Result<RollKeyRequest, BodyError> {
    let req: RollKeyRequest = parse(body)?;
    rules::grace_seconds(req.grace_seconds)?;
    Ok(req)
}

/// `POST /v1/verify`: the request, and the caller's IP when it names one.
pub fn verify(body: &[u8]) -> Result<(VerifyRequest, Option<IpAddr>), BodyError> {
    let req: VerifyRequest = parse(body)?;
    let ip = req.ip.as_deref().map(rules::ip_address).transpose()?;
    Ok((req, ip))
}

/// `POST /v1/auth/login`: parsed (the password is checked against the stored hash, not here).
pub fn login(body: &[u8]) -> Result<LoginRequest, BodyError> {
    parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_key_or_unknown_field_is_never_repeated() {
        // Found by fuzzing: a field named "" whose value is not text was reported as the field "".
        let e = create_key(b"{\"\"\xe7\x0c\n\n\x0c", &[], 0).expect_err("bad");
        assert!(matches!(e, BodyError::Body(_)), "{e:?}");
        let secretish = "kh_live_SecretLookingNameOfAField0123";
        let body = format!("{{\"name\":\"a\",\"{secretish}\":1}}");
        let e = update_key(body.as_bytes(), &[], 0).expect_err("unknown field");
        let message = e.to_string();
        assert!(!message.contains(secretish), "{message}");
        assert!(message.contains("expected one of"), "{message}");
        // Found by the property test: an unknown field with a name like a field's.
        let e = update_key(br#"{"_":null}"#, &[], 0).expect_err("unknown field");
        assert!(matches!(e, BodyError::Body(_)), "{e:?}");
        // A typo is named, so that the caller sees what to fix.
        let e = update_key(br#"{"nmae":"x"}"#, &[], 0).expect_err("typo");
        assert!(e.to_string().contains("`nmae`"), "{e}");
        let e = update_key(br#"{"scopes":[1]}"#, &[], 0).expect_err("wrong type");
        assert!(
            matches!(&e, BodyError::Field(f) if f.field == "scopes[0]"),
            "{e:?}"
        );
        assert!(field_like("allowed_ips[12]") && field_like("name"));
        assert!(
            !field_like("") && !field_like("Name") && !field_like("a.B") && !field_like("x[1a]")
        );
    }
}
