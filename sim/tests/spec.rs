//! Every JSON body the sim returns for an operation of api.video's OpenAPI spec
//! (`spec/apivideo-openapi.yaml`, a byte-for-byte copy of the official file) validates against
//! the schema the spec declares for that operation and status, and carries the headers the
//! spec declares for that response.
//!
//! The spec is OpenAPI 3.0: schemas are translated to JSON Schema draft 4 by turning
//! `nullable: true` into a `type` union with `null`. Validation is strict: formats are
//! checked, and objects with declared `properties` reject undeclared keys (so a misspelt field
//! fails here instead of in a client).

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use apivideo_sim::SimConfig;
use common::*;
use serde_json::{Map, Value, json};

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/apivideo-openapi.yaml");
        let text = std::fs::read_to_string(path).expect("spec file");
        serde_norway::from_str(&text).expect("spec parses")
    })
}

/// OpenAPI 3.0 schema → JSON Schema draft 4 (recursively).
fn translate(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(translate).collect()),
        Value::Object(obj) => {
            let mut out: Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| !k.starts_with("x-") && *k != "example" && *k != "examples")
                .map(|(k, v)| (k.clone(), translate(v)))
                .collect();
            if out.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
                if let Some(Value::Array(mut e)) = out.get("enum").cloned() {
                    e.push(Value::Null);
                    out.insert("enum".into(), Value::Array(e));
                }
            }
            if out.contains_key("properties")
                && !out.contains_key("additionalProperties")
                && !out.contains_key("$ref")
            {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn components() -> &'static Value {
    static C: OnceLock<Value> = OnceLock::new();
    C.get_or_init(|| translate(&spec()["components"]))
}

/// The declared response of an operation (`path` as written in the spec).
fn response(path: &str, method: &str, status: u16) -> &'static Value {
    let r = &spec()["paths"][path][method]["responses"][status.to_string()];
    assert!(
        r.is_object(),
        "the spec declares no {status} for {method} {path}"
    );
    r
}

fn validate(schema: &Value, body: &Value, what: &str) {
    let root = json!({"components": components(), "allOf": [translate(schema)]});
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: body does not match the spec:\n{}\nbody: {body:#}",
        errors.join("\n")
    );
}

/// Check status, declared headers and body of one response against the spec.
async fn conforms(resp: reqwest::Response, path: &str, method: &str, status: u16) -> Value {
    let what = format!("{method} {path} {status}");
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let declared = response(path, method, status);
    if let Some(headers) = declared["headers"].as_object() {
        for name in headers.keys() {
            let v = resp
                .headers()
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{what}: missing header {name}"));
            if headers[name]["schema"]["type"] == "integer" {
                v.to_str()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap_or_else(|_| panic!("{what}: {name} not an integer"));
            }
        }
    }
    let Some(content) = declared["content"].as_object() else {
        assert!(
            resp.bytes().await.unwrap().is_empty(),
            "{what}: body where the spec declares none"
        );
        return Value::Null;
    };
    assert!(content.contains_key("application/json"), "{what}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    validate(&content["application/json"]["schema"], &body, &what);
    body
}

#[tokio::test]
async fn the_spec_copy_is_the_reference_file() {
    let s = spec();
    assert_eq!(s["openapi"], "3.0.0");
    for name in [
        "access-token",
        "video",
        "videos-list-response",
        "video-status",
        "upload-token",
        "token-list-response",
        "not-found",
        "too-many-requests",
        "bad-request",
    ] {
        assert!(s["components"]["schemas"][name].is_object(), "{name}");
    }
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/apivideo-openapi.yaml");
    if let Ok(reference) = std::fs::read(shared) {
        let ours = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/apivideo-openapi.yaml"),
        )
        .unwrap();
        assert!(
            ours == reference,
            "sim/spec/apivideo-openapi.yaml differs from shared/reference"
        );
    }
}

#[tokio::test]
async fn a_broken_body_is_caught() {
    // The validator is not vacuous: wrong types, unknown keys and missing required keys fail.
    let video = json!({"$ref": "#/components/schemas/video"});
    let root = json!({"components": components(), "allOf": [video]});
    let v = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    assert!(v.is_valid(&json!({"videoId": "vi1", "discardedAt": null, "languageOrigin": null})));
    assert!(!v.is_valid(&json!({"title": "no id"})));
    assert!(!v.is_valid(&json!({"videoId": "vi1", "public": "no"})));
    assert!(!v.is_valid(&json!({"videoId": "vi1", "video_id": "vi1"})));
    assert!(!v.is_valid(&json!({"videoId": "vi1", "assets": {"hls": "not a uri"}})));
    assert!(!v.is_valid(&json!({"videoId": "vi1", "createdAt": "yesterday"})));
}

#[tokio::test]
async fn every_implemented_operation_matches_the_spec() {
    let (sim, c) = start(SimConfig {
        rate_limit: 1000,
        ..config()
    })
    .await;
    let base = sim.base_url();
    let auth = basic(&sim);

    // /auth/api-key and /auth/refresh
    let r = c
        .post(format!("{base}/auth/api-key"))
        .json(&json!({"apiKey": sim.api_key()}))
        .send()
        .await
        .unwrap();
    let tokens = conforms(r, "/auth/api-key", "post", 200).await;
    let r = c
        .post(format!("{base}/auth/api-key"))
        .json(&json!({"apiKey": "wrong"}))
        .send()
        .await
        .unwrap();
    conforms(r, "/auth/api-key", "post", 400).await;
    let r = c
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refreshToken": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    let tokens = conforms(r, "/auth/refresh", "post", 200).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());

    // /videos/{videoId}: private and public, Bearer and Basic, 404
    for a in [&auth, &bearer] {
        let r = c
            .get(format!("{base}/videos/sample"))
            .header("Authorization", a)
            .send()
            .await
            .unwrap();
        conforms(r, "/videos/{videoId}", "get", 200).await;
    }
    sim.set_public("sample", true);
    let r = c
        .get(format!("{base}/videos/sample"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(
        conforms(r, "/videos/{videoId}", "get", 200).await["public"],
        true
    );
    sim.set_public("sample", false);
    let r = c
        .get(format!("{base}/videos/missing"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/videos/{videoId}", "get", 404).await;

    // /videos (list), including a 400
    let r = c
        .get(format!("{base}/videos?pageSize=1"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    let list = conforms(r, "/videos", "get", 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let r = c
        .get(format!("{base}/videos?pageSize=0"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/videos", "get", 400).await;

    // /videos/{videoId}/status
    let r = c
        .get(format!("{base}/videos/sample/status"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/videos/{videoId}/status", "get", 200).await;
    let r = c
        .get(format!("{base}/videos/missing/status"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/videos/{videoId}/status", "get", 404).await;

    // /upload-tokens
    let r = c
        .post(format!("{base}/upload-tokens"))
        .header("Authorization", &auth)
        .json(&json!({"ttl": 3600}))
        .send()
        .await
        .unwrap();
    let tok = conforms(r, "/upload-tokens", "post", 200).await;
    let r = c
        .post(format!("{base}/upload-tokens"))
        .header("Authorization", &auth)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let forever = conforms(r, "/upload-tokens", "post", 200).await;
    assert_eq!(forever["expiresAt"], Value::Null);
    let r = c
        .post(format!("{base}/upload-tokens"))
        .header("Authorization", &auth)
        .json(&json!({"ttl": -5}))
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens", "post", 400).await;
    let r = c
        .get(format!("{base}/upload-tokens?sortBy=ttl&sortOrder=asc"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens", "get", 200).await;
    let t = tok["token"].as_str().unwrap();
    let r = c
        .get(format!("{base}/upload-tokens/{t}"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens/{uploadToken}", "get", 200).await;
    let r = c
        .get(format!("{base}/upload-tokens/to0"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens/{uploadToken}", "get", 404).await;

    // /upload
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(&b"bytes"[..]).file_name("a.mp4"),
    );
    let r = c
        .post(format!("{base}/upload?token={t}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload", "post", 201).await;
    let form = reqwest::multipart::Form::new().text("videoId", "");
    let r = c
        .post(format!("{base}/upload?token={t}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload", "post", 400).await;

    let f = forever["token"].as_str().unwrap();
    let r = c
        .delete(format!("{base}/upload-tokens/{f}"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens/{uploadToken}", "delete", 204).await;
    let r = c
        .delete(format!("{base}/upload-tokens/{f}"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    conforms(r, "/upload-tokens/{uploadToken}", "delete", 404).await;

    // 429 from every regular operation that declares one
    sim.add_faults(vec![apivideo_sim::FaultRule {
        rate_limit_rate: 1.0,
        ..Default::default()
    }]);
    for (path, url) in [
        ("/videos", "/videos".to_owned()),
        ("/videos/{videoId}", "/videos/sample".to_owned()),
        (
            "/videos/{videoId}/status",
            "/videos/sample/status".to_owned(),
        ),
        ("/upload-tokens", "/upload-tokens".to_owned()),
        (
            "/upload-tokens/{uploadToken}",
            format!("/upload-tokens/{t}"),
        ),
    ] {
        let r = c
            .get(format!("{base}{url}"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        conforms(r, path, "get", 429).await;
    }
    sim.clear_faults();

    // The spec declares no 401; the body still has the error shape of `not-found`
    // (`type`, `title`, `name`, `status`).
    let r = c.get(format!("{base}/videos/sample")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    validate(
        &json!({"$ref": "#/components/schemas/not-found"}),
        &body,
        "401",
    );
    for k in ["type", "title", "name", "status"] {
        assert!(body.get(k).is_some(), "401 body lacks {k}: {body}");
    }
    sim.advance_clock(Duration::from_secs(0));
    sim.stop().await;
}
