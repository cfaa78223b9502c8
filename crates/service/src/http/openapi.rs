//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, kept beside the code as JSON.

pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ENDPOINTS;
    use keyhaven_api::ErrorCode;

    fn doc() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("the document is JSON")
    }

    #[test]
    fn describes_every_endpoint_served_and_no_other() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for &(method, path) in ENDPOINTS {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is served but not documented"
            );
        }
        let documented: usize = paths
            .values()
            .map(|p| {
                p.as_object()
                    .expect("path item")
                    .keys()
                    .filter(|k| ["get", "post", "delete", "patch", "put"].contains(&k.as_str()))
                    .count()
            })
            .sum();
        assert_eq!(documented, ENDPOINTS.len(), "documented but not served");
    }

    #[test]
    fn lists_every_error_code() {
        let doc = doc();
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("enum");
        let codes: Vec<&str> = codes.iter().filter_map(|c| c.as_str()).collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, all);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
