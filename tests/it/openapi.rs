//! `docs/openapi.json` and envd's plain-HTTP router agree in both directions: every path the
//! router mounts (`src/http/mod.rs`, `src/http/files/mod.rs`) is documented and every documented
//! path is mounted, and for each path the methods envd answers (the `Allow` header of its 405 to a
//! method no route uses, so no handler runs) are the documented ones, asked of the router in
//! this process. `auth` reads the document's operations and security for its matrix.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use http::Method;
use serde_json::Value;

use crate::support::app::App;

const DOCUMENT: &str = include_str!("../../docs/openapi.json");

/// The sources that mount plain-HTTP routes, each with `.route("<path>", …)` calls.
const ROUTER_SOURCES: [(&str, &str); 2] = [
    ("src/http/mod.rs", include_str!("../../src/http/mod.rs")),
    (
        "src/http/files/mod.rs",
        include_str!("../../src/http/files/mod.rs"),
    ),
];

/// The HTTP methods an OpenAPI path item may hold.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub(crate) fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON")
}

/// Documented path -> its methods, upper case.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = document();
    doc["paths"]
        .as_object()
        .expect("paths is an object")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(|k| k.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The first argument of every `.route(` call in `source` (rustfmt may break the line after
/// the parenthesis).
fn mounted_paths(source: &str) -> Vec<String> {
    source
        .split(".route(")
        .skip(1)
        .map(|rest| {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('"').expect("a route path is a literal");
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn the_document_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string(), "info.title");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for (path, methods) in documented() {
        assert!(path.starts_with('/'), "{path}");
        assert!(!methods.is_empty(), "{path} documents no operation");
        for method in methods {
            let op = &doc["paths"][&path][method.to_lowercase()];
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
    // Every $ref points at something in the document.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in found {
        let pointer = r.strip_prefix('#').expect("local $ref");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

#[test]
fn the_router_mounts_exactly_the_documented_paths() {
    let mut mounted = BTreeSet::new();
    for (file, source) in ROUTER_SOURCES {
        let paths = mounted_paths(source);
        assert!(
            !paths.is_empty(),
            "{file} mounts no route: is the list stale?"
        );
        mounted.extend(paths);
    }
    let documented: BTreeSet<String> = documented().into_keys().collect();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unmounted.is_empty(),
        "in docs/openapi.json but not mounted: {unmounted:?}"
    );
}

#[tokio::test]
async fn envd_answers_exactly_the_documented_methods() {
    let app = App::new().await;
    // No route uses PUT, so routing stops at axum's 405, whose Allow header lists the methods
    // the path is mounted with; no handler runs.
    let probe = |path: String| {
        let app = &app;
        async move {
            let request = App::request(Method::PUT, &path)
                .body(Body::empty())
                .unwrap();
            app.send(request).await
        }
    };
    let reply = probe("/no-such-route".to_owned()).await;
    assert_eq!(reply.status, 404, "an unmounted path is not 405");
    for (path, methods) in documented() {
        let reply = probe(path.clone()).await;
        assert_eq!(reply.status, 405, "PUT {path}");
        let allow: BTreeSet<String> = reply
            .headers
            .get("allow")
            .unwrap_or_else(|| panic!("no Allow header on PUT {path}"))
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            // axum answers HEAD wherever it answers GET; the document leaves HEAD implied.
            .filter(|m| m != "HEAD" || !methods.contains("GET"))
            .collect();
        assert_eq!(allow, methods, "methods of {path}");
    }
}

/// A real error body holds exactly the documented `Error` properties, the required ones among
/// them, each of its documented type; `connectCode` is one of the documented codes.
#[tokio::test]
async fn error_bodies_match_the_documented_schema() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["Error"];
    let properties = schema["properties"].as_object().unwrap();
    let app = App::new().await;
    let missing = app.scratch().join("no-such-file");
    let uri = format!("/files?path={}", missing.display());
    let reply = app
        .send(App::request(Method::GET, &uri).body(Body::empty()).unwrap())
        .await;
    assert_eq!(reply.status, 404);
    let body = reply.json();
    let body = body.as_object().unwrap();
    let keys: BTreeSet<&String> = body.keys().collect();
    assert_eq!(keys, properties.keys().collect(), "{body:?}");
    for required in schema["required"].as_array().unwrap() {
        assert!(body.contains_key(required.as_str().unwrap()), "{required}");
    }
    for (name, value) in body {
        let kind = match value {
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            _ => "other",
        };
        assert_eq!(properties[name]["type"], kind, "{name}: {value}");
    }
    assert_eq!(body["code"], 404);
    assert_eq!(body["connectCode"], "not_found");
    assert!(
        properties["connectCode"]["enum"]
            .as_array()
            .unwrap()
            .contains(&body["connectCode"])
    );
}
