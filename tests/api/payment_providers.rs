//! The payment providers' own webhooks (`/webhooks/stripe`, `/webhooks/paddle`,
//! `/webhooks/lemonsqueezy`): the providers' documented example events
//! (`tests/fixtures/payments/`, sources in its README), signed the way each provider signs
//! with its own library and checked by its own verifier (`tests/payments/sign.cjs`, installed
//! by `scripts/payment-helpers.sh`), posted to vodgate on a real Redis.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const STRIPE_SECRET: &str = "whsec_test_5f1f4a2e8d0b4c6e9a7b3d2c1e0f9a8b";
const PADDLE_SECRET: &str = "pdl_ntfset_01hv8x_test_0123456789abcdef";
const LS_SECRET: &str = "ls-secret-42";

fn helpers_dir() -> PathBuf {
    let dir = std::env::var_os("VODGATE_PAYMENT_HELPERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/payment-helpers"));
    assert!(
        dir.join("node_modules/stripe").exists()
            && dir.join("node_modules/@paddle/paddle-node-sdk").exists(),
        "the payment providers' libraries are not installed in {}: run scripts/payment-helpers.sh (scripts/test does)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// The provider's signature header value for `body`, made by the provider's library.
fn sign(provider: &str, secret: &str, body: &str, at: Option<i64>) -> String {
    let mut cmd = Command::new("node");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/payments/sign.cjs"
    ))
    .arg(provider)
    .arg(secret);
    if let Some(t) = at {
        cmd.arg(t.to_string());
    }
    let mut child = cmd
        .env("NODE_PATH", helpers_dir().join("node_modules"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{provider} signing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/payments/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A fixture with some fields changed or added (a JSON pointer → a value).
fn edited(path: &str, edits: &[(&str, Value)]) -> String {
    let mut v: Value = serde_json::from_str(&fixture(path)).unwrap();
    for (pointer, value) in edits {
        if let Some(at) = v.pointer_mut(pointer) {
            *at = value.clone();
        } else {
            let (parent, name) = pointer.rsplit_once('/').unwrap();
            v.pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("{pointer}"))
                .insert(name.to_owned(), value.clone());
        }
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// Paddle's example adjustment refunds 100 of the transaction's 65,215: this one refunds all.
fn paddle_full_refund() -> String {
    edited(
        "paddle/adjustment.updated.json",
        &[
            ("/data/totals/total", json!("65215")),
            ("/event_id", json!("evt_01h8c6tc8aa58zqj6h8a13full")),
        ],
    )
}

fn catalogue(item: &str, video: &str, watch_for_s: Option<u64>) -> vodgate::config::Catalogue {
    vodgate::config::Catalogue::Items(
        [(
            item.to_owned(),
            vodgate::config::CatalogueItem {
                video_id: video.to_owned(),
                watch_for_s,
            },
        )]
        .into(),
    )
}

async fn providers_app(edit: impl FnOnce(&mut vodgate::config::Config)) -> TestApp {
    let mut config = test_config(StoreKind::Redis);
    config.stripe_webhook_secrets = vec![secrecy::SecretString::from(STRIPE_SECRET)];
    config.paddle_webhook_secrets = vec![secrecy::SecretString::from(PADDLE_SECRET)];
    config.lemonsqueezy_webhook_secrets = vec![secrecy::SecretString::from(LS_SECRET)];
    // What the shop sells: the examples' first Paddle price and Lemon Squeezy variant.
    config.paddle_prices = catalogue("pri_01gsz8x8sawmvhz1pv30nge1ke", "sample", None);
    config.lemonsqueezy_variants = catalogue("1", "sample", None);
    edit(&mut config);
    spawn_app_with(config).await
}

fn header_of(provider: &str) -> &'static str {
    match provider {
        "stripe" => "stripe-signature",
        "paddle" => "paddle-signature",
        _ => "x-signature",
    }
}

async fn post_raw(
    app: &TestApp,
    provider: &str,
    body: &str,
    signature: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(&format!("/webhooks/{provider}")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        req = req.header(header_of(provider), s);
    }
    req.send().await.unwrap()
}

/// Post `body` signed as the provider signs it; the answer's status and JSON.
async fn deliver(app: &TestApp, provider: &str, body: &str) -> (u16, Value) {
    let secret = match provider {
        "stripe" => STRIPE_SECRET,
        "paddle" => PADDLE_SECRET,
        _ => LS_SECRET,
    };
    let r = post_raw(
        app,
        provider,
        body,
        Some(&sign(provider, secret, body, None)),
    )
    .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn order_entitlements(app: &TestApp, order: &str) -> Vec<Value> {
    let r = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements?order_id={order}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"].as_array().cloned().unwrap_or_default()
}

/// The viewer opens the watch link of `entitlement` and fetches the master playlist.
async fn master_status(app: &TestApp, entitlement: &str) -> (Viewer, String) {
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{entitlement}/launch"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "a watch link");
    let link: Value = r.json().await.unwrap();
    let (status, viewer) = app.launch(link["watch_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let html = app
        .get_as(&viewer, &format!("/watch/{entitlement}"))
        .await
        .text()
        .await
        .unwrap();
    (viewer, master_of(&html))
}

#[tokio::test]
async fn a_stripe_checkout_grants_and_its_refund_revokes_once() {
    let app = providers_app(|_| {}).await;
    let (status, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "granted", "{out}");
    let ents = order_entitlements(&app, "order-1001").await;
    assert_eq!(ents.len(), 1, "{ents:?}");
    let ent = &ents[0];
    assert_eq!(ent["video_id"], "sample");
    assert_eq!(ent["viewer_id"], "viewer-1");
    assert_eq!(ent["id"], out["entitlement_id"]);
    let id = ent["id"].as_str().unwrap().to_owned();
    // The grant's trail names the Stripe event.
    let grant = app.audit(&format!("entitlement_id={id}")).await;
    assert!(
        grant.iter().any(|e| e["kind"] == "grant"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("checkout.session.completed evt_")),
        "{grant:?}"
    );
    let (viewer, master) = master_status(&app, &id).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);

    // Stripe delivers again: one grant, nothing new.
    let (status, again) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
    // The same checkout through its async event (another event id): the same grant.
    let (_, same) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.async_payment_succeeded.json"),
    )
    .await;
    assert_eq!(same["status"], "granted");
    assert_eq!(same["entitlement_id"], out["entitlement_id"]);
    assert_eq!(order_entitlements(&app, "order-1001").await.len(), 1);

    // The charge is refunded in full: the order is revoked, found through the payment
    // intent (the charge carries no Checkout metadata).
    let (status, refund) = deliver(&app, "stripe", &fixture("stripe/charge.refunded.json")).await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "revoked", "{refund}");
    assert_eq!(refund["revoked"], json!([id]));
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "refunded"
    );
    // refund.created for the same refund: the revocation stands, revoked once.
    let (_, second) = deliver(&app, "stripe", &fixture("stripe/refund.created.json")).await;
    assert_eq!(second["status"], "revoked");
    assert_eq!(second["revoked"], json!([]));
    assert_eq!(second["already_revoked"], json!([id]));
    let events = app.audit("order_id=order-1001").await;
    let refunds: Vec<_> = events.iter().filter(|e| e["kind"] == "refund").collect();
    assert_eq!(refunds.len(), 1, "{events:?}");
    assert!(
        refunds[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("refund (stripe charge.refunded evt_"),
        "{refunds:?}"
    );
}

#[tokio::test]
async fn a_stripe_dispute_revokes_as_a_chargeback() {
    let app = providers_app(|_| {}).await;
    deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    let (status, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/charge.dispute.created.json"),
    )
    .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("revoked")),
        "{out}"
    );
    let ent = &order_entitlements(&app, "order-1001").await[0];
    assert!(
        ent["revocation_reason"]
            .as_str()
            .unwrap()
            .starts_with("chargeback (stripe charge.dispute.created"),
        "{ent}"
    );
}

#[tokio::test]
async fn a_partial_stripe_refund_keeps_access_unless_configured_to_revoke() {
    let partial = edited(
        "stripe/charge.refunded.json",
        &[
            ("/data/object/refunded", json!(false)),
            ("/data/object/amount_refunded", json!(100)),
        ],
    );
    let partial_refund = edited(
        "stripe/refund.created.json",
        &[
            ("/data/object/amount", json!(100)),
            ("/id", json!("evt_partial_refund_1")),
        ],
    );
    let app = providers_app(|_| {}).await;
    deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    let (_, out) = deliver(&app, "stripe", &partial).await;
    assert_eq!(out["status"], "noted", "{out}");
    let (_, out) = deliver(&app, "stripe", &partial_refund).await;
    assert_eq!(out["status"], "noted", "100 of 499 refunded: {out}");
    let ent = &order_entitlements(&app, "order-1001").await[0];
    assert_eq!(ent["status"], "active", "{ent}");
    let events = app.audit("order_id=order-1001").await;
    assert!(
        events.iter().any(|e| e["kind"] == "payment_noted"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("partial refund, access kept")),
        "{events:?}"
    );

    let app =
        providers_app(|c| c.stripe_partial_refund = vodgate::config::PartialRefund::Revoke).await;
    deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    let (_, out) = deliver(&app, "stripe", &partial).await;
    assert_eq!(out["status"], "revoked", "{out}");
    assert_eq!(
        order_entitlements(&app, "order-1001").await[0]["status"],
        "refunded"
    );
}

#[tokio::test]
async fn a_refund_that_arrives_before_its_purchase_is_applied_when_the_purchase_comes() {
    let app = providers_app(|_| {}).await;
    let (status, out) = deliver(&app, "stripe", &fixture("stripe/charge.refunded.json")).await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("remembered")),
        "{out}"
    );
    let unattributed = app.audit("unattributed=true").await;
    assert!(
        unattributed.iter().any(|e| e["kind"] == "webhook_unmatched"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("pi_1PgafyB7WZ01zgkWSjxsAJo3")),
        "{unattributed:?}"
    );
    let (_, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    assert_eq!(out["status"], "granted", "{out}");
    assert_eq!(
        out["revoked"],
        json!([out["entitlement_id"].clone()]),
        "{out}"
    );
    let ent = &order_entitlements(&app, "order-1001").await[0];
    assert_eq!(ent["status"], "refunded", "{ent}");
    // A launch link made afterwards does not play.
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{}/launch", ent["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), 409);

    // Paddle's adjustment before its transaction, the same way.
    let (_, out) = deliver(&app, "paddle", &paddle_full_refund()).await;
    assert_eq!(out["status"], "remembered", "{out}");
    let (_, out) = deliver(
        &app,
        "paddle",
        &fixture("paddle/transaction.completed.json"),
    )
    .await;
    assert_eq!(out["status"], "granted", "{out}");
    assert_eq!(
        order_entitlements(&app, "order-2001").await[0]["status"],
        "refunded"
    );
}

#[tokio::test]
async fn a_stripe_payment_link_without_metadata_but_the_video_sells_to_the_customer() {
    // A Payment Link sets no client_reference_id and only the metadata it was given.
    let body = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/data/object/client_reference_id", Value::Null),
            ("/data/object/metadata", json!({"video_id": "trailer"})),
        ],
    );
    let app = providers_app(|_| {}).await;
    let (status, out) = deliver(&app, "stripe", &body).await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("granted")),
        "{out}"
    );
    let session: Value = serde_json::from_str(&body).unwrap();
    let session_id = session["data"]["object"]["id"].as_str().unwrap();
    let ents = order_entitlements(&app, session_id).await;
    assert_eq!(ents.len(), 1, "the order is the checkout session");
    assert_eq!(
        ents[0]["viewer_id"], "cus_QXg1o8vcGmoR32",
        "the viewer is the Stripe customer"
    );
    assert_eq!(ents[0]["video_id"], "trailer");
}

#[tokio::test]
async fn a_checkout_that_cannot_make_a_grant_is_a_422_audited_and_retried() {
    let app = providers_app(|_| {}).await;
    for (metadata, says) in [
        (json!({"viewer_id": "viewer-1"}), "no video_id"),
        (
            json!({"video_id": "sample", "watch_for_s": "a day"}),
            "watch_for_s",
        ),
        (
            json!({"video_id": "sample", "watch_for_s": "99999999999"}),
            "watch_for_s",
        ),
        (json!({"video_id": "../etc/passwd"}), "video_id"),
    ] {
        let body = edited(
            "stripe/checkout.session.completed.json",
            &[("/data/object/metadata", metadata.clone())],
        );
        let r = post_raw(
            &app,
            "stripe",
            &body,
            Some(&sign("stripe", STRIPE_SECRET, &body, None)),
        )
        .await;
        assert_eq!(r.status(), 422, "{metadata}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "invalid_purchase");
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }
    assert!(order_entitlements(&app, "order-1001").await.is_empty());
    let refused = app.audit("unattributed=true").await;
    assert!(
        refused.iter().any(|e| e["kind"] == "webhook_refused"
            && e["reason"].as_str().unwrap().contains("no video_id")),
        "{refused:?}"
    );
    // Fixed by the site and retried (Stripe retries the same event): now it grants.
    let (_, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    assert_eq!(out["status"], "granted");
}

#[tokio::test]
async fn bad_stale_or_missing_signatures_are_400_audited_and_change_nothing() {
    let app = providers_app(|_| {}).await;
    let body = fixture("stripe/checkout.session.completed.json");
    let now = chrono::Utc::now().timestamp();
    let wrong_secret = sign("stripe", "whsec_someone_else_0123456789", &body, None);
    let stale = sign("stripe", STRIPE_SECRET, &body, Some(now - 400));
    let tampered_body = body.replace("viewer-1", "viewer-2");
    let good = sign("stripe", STRIPE_SECRET, &body, None);
    for (sig, b, code) in [
        (
            Some(wrong_secret.as_str()),
            body.as_str(),
            "invalid_signature",
        ),
        (Some(stale.as_str()), body.as_str(), "signature_expired"),
        (
            Some(good.as_str()),
            tampered_body.as_str(),
            "invalid_signature",
        ),
        (None, body.as_str(), "invalid_signature"),
        (Some("t=1,v1=nothex"), body.as_str(), "invalid_signature"),
    ] {
        let r = post_raw(&app, "stripe", b, sig).await;
        assert_eq!(problem(r, 400).await, code);
    }
    // Paddle's and Lemon Squeezy's signatures are not interchangeable with Stripe's.
    let paddle_body = fixture("paddle/transaction.completed.json");
    let as_stripe = sign("stripe", PADDLE_SECRET, &paddle_body, None);
    assert_eq!(
        problem(
            post_raw(&app, "paddle", &paddle_body, Some(&as_stripe)).await,
            400
        )
        .await,
        "invalid_signature"
    );
    let ls_body = fixture("lemonsqueezy/order_created.json");
    let wrong = sign("lemonsqueezy", "another-secret", &ls_body, None);
    assert_eq!(
        problem(
            post_raw(&app, "lemonsqueezy", &ls_body, Some(&wrong)).await,
            400
        )
        .await,
        "invalid_signature"
    );
    assert!(order_entitlements(&app, "order-1001").await.is_empty());
    assert!(order_entitlements(&app, "order-2001").await.is_empty());
    let refused = app.audit("unattributed=true").await;
    let n = refused
        .iter()
        .filter(|e| e["kind"] == "webhook_refused")
        .count();
    assert!(n >= 3, "{refused:?}");
    // A flood of unsigned requests files one entry per cause and minute, so it cannot
    // push the trail's real entries out of its cap.
    for _ in 0..10 {
        let r = post_raw(&app, "stripe", &body, Some(&wrong_secret)).await;
        assert_eq!(r.status(), 400);
    }
    let refused = app.audit("unattributed=true").await;
    let mismatches = refused
        .iter()
        .filter(|e| e["reason"] == "stripe: no signature matches")
        .count();
    assert_eq!(mismatches, 1, "{refused:?}");
    // The good signature was never the problem: the body it signs grants.
    let r = post_raw(&app, "stripe", &body, Some(&good)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_provider_endpoint_is_404_until_its_secret_is_set_and_accepts_a_rotation() {
    let app = providers_app(|c| {
        c.paddle_webhook_secrets = vec![];
        c.stripe_webhook_secrets = vec![
            secrecy::SecretString::from("whsec_new_0123456789abcdef"),
            secrecy::SecretString::from(STRIPE_SECRET),
        ];
    })
    .await;
    let body = fixture("paddle/transaction.completed.json");
    let r = post_raw(
        &app,
        "paddle",
        &body,
        Some(&sign("paddle", PADDLE_SECRET, &body, None)),
    )
    .await;
    assert_eq!(problem(r, 404).await, "webhook_not_configured");
    // Signed with the old secret during a rotation: accepted.
    let (status, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    assert_eq!((status, out["status"].as_str()), (200, Some("granted")));
}

#[tokio::test]
async fn unhandled_stripe_events_and_unpaid_checkouts_are_acknowledged_and_audited() {
    let app = providers_app(|_| {}).await;
    let other = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/type", json!("customer.created")),
            ("/id", json!("evt_other_1")),
        ],
    );
    let (status, out) = deliver(&app, "stripe", &other).await;
    assert_eq!((status, out["status"].as_str()), (200, Some("ignored")));
    let unpaid = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/data/object/payment_status", json!("unpaid")),
            ("/id", json!("evt_unpaid_1")),
        ],
    );
    let (_, out) = deliver(&app, "stripe", &unpaid).await;
    assert_eq!(out["status"], "noted");
    assert!(
        order_entitlements(&app, "order-1001").await.is_empty(),
        "unpaid grants nothing"
    );
    let notes = app.audit("unattributed=true").await;
    assert!(
        notes.iter().any(|e| e["kind"] == "payment_noted"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("customer.created evt_other_1")),
        "{notes:?}"
    );
    // Then the delayed payment succeeds: the grant.
    let (_, out) = deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.async_payment_succeeded.json"),
    )
    .await;
    assert_eq!(out["status"], "granted");
}

#[tokio::test]
async fn a_paddle_transaction_grants_and_only_an_approved_refund_revokes() {
    let app = providers_app(|_| {}).await;
    // A transaction of many items is more than the admin API's 16 KiB: still taken.
    let big = edited(
        "paddle/transaction.completed.json",
        &[("/data/custom_data/site_note", json!("x".repeat(40_000)))],
    );
    let (status, out) = deliver(&app, "paddle", &big).await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("granted")),
        "{out}"
    );
    let ents = order_entitlements(&app, "order-2001").await;
    assert_eq!(ents.len(), 1);
    assert_eq!(ents[0]["viewer_id"], "viewer-1");
    let id = ents[0]["id"].as_str().unwrap().to_owned();
    let (viewer, master) = master_status(&app, &id).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    // Pending approval: nothing changes.
    let (_, out) = deliver(&app, "paddle", &fixture("paddle/adjustment.created.json")).await;
    assert_eq!(out["status"], "noted", "{out}");
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    // Approved, but 100 of 65,215: a partial refund keeps access, audited.
    let (_, out) = deliver(&app, "paddle", &fixture("paddle/adjustment.updated.json")).await;
    assert_eq!(out["status"], "noted", "{out}");
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    // Approved, the whole transaction: revoked, at the next request.
    let (_, out) = deliver(&app, "paddle", &paddle_full_refund()).await;
    assert_eq!(out["status"], "revoked", "{out}");
    assert_eq!(out["revoked"], json!([id]));
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "refunded"
    );
    let (_, out) = deliver(&app, "paddle", &paddle_full_refund()).await;
    assert_eq!(out["status"], "duplicate");
    let events = app.audit("order_id=order-2001").await;
    assert!(
        events.iter().any(|e| e["kind"] == "refund"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("paddle adjustment.updated evt_")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_lemon_squeezy_order_grants_and_its_refund_revokes() {
    let app = providers_app(|_| {}).await;
    let (status, out) = deliver(
        &app,
        "lemonsqueezy",
        &fixture("lemonsqueezy/order_created.json"),
    )
    .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("granted")),
        "{out}"
    );
    // No order_id in the custom data: the order is Lemon Squeezy's order id.
    let ents = order_entitlements(&app, "1").await;
    assert_eq!(ents.len(), 1);
    let id = ents[0]["id"].as_str().unwrap().to_owned();
    let (_, again) = deliver(
        &app,
        "lemonsqueezy",
        &fixture("lemonsqueezy/order_created.json"),
    )
    .await;
    assert_eq!(
        again["status"], "duplicate",
        "no event id, but the same event"
    );
    let (viewer, master) = master_status(&app, &id).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    let (_, out) = deliver(
        &app,
        "lemonsqueezy",
        &fixture("lemonsqueezy/order_refunded.json"),
    )
    .await;
    assert_eq!(out["status"], "revoked", "{out}");
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "refunded"
    );
}

#[tokio::test]
async fn the_stripe_return_url_waits_for_the_webhook_then_opens_the_player_once() {
    let app = providers_app(|_| {}).await;
    // A Payment Link: no client_reference_id, metadata naming only the video.
    let body = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/data/object/client_reference_id", Value::Null),
            ("/data/object/metadata", json!({"video_id": "sample"})),
        ],
    );
    let session: Value = serde_json::from_str(&body).unwrap();
    let session_id = session["data"]["object"]["id"].as_str().unwrap().to_owned();
    let back = app.url(&format!("/checkout/stripe/return?session_id={session_id}"));

    // The buyer is back before the webhook: a page that reloads itself.
    let r = app.client.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(session_cookie(&r).is_none(), "no session before the grant");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<meta http-equiv="refresh" content="2">"#),
        "{html}"
    );
    assert!(html.contains(r#"data-state="waiting""#), "{html}");

    let (_, out) = deliver(&app, "stripe", &body).await;
    assert_eq!(out["status"], "granted", "{out}");
    // The reload: the viewer session and the watch page, as a launch link gives them.
    let (status, viewer) = app.launch(&back).await;
    assert_eq!(status, 303);
    assert!(viewer.cookie.is_some());
    assert_eq!(
        viewer.entitlement_id,
        out["entitlement_id"].as_str().unwrap()
    );
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let master = master_of(&html);
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);

    // Once: the same URL again (the buyer's back button, or someone it was shared with).
    let r = app.client.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(session_cookie(&r).is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(r#"data-code="launch_link_used""#)
    );
    // Not a way to probe: a malformed session id is a 400 in the one error shape.
    let r = app
        .client
        .get(app.url("/checkout/stripe/return?session_id=../../x"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_query");
}

#[tokio::test]
async fn a_buyer_naming_someone_elses_order_cannot_refund_it_away() {
    let app = providers_app(|_| {}).await;
    // The victim's rental, order-1001.
    deliver(
        &app,
        "stripe",
        &fixture("stripe/checkout.session.completed.json"),
    )
    .await;
    // The attacker opens a Payment Link with ?client_reference_id=order-1001 for another
    // video, pays with another payment intent, then disputes it.
    let attacker = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/id", json!("evt_attacker_checkout")),
            ("/data/object/id", json!("cs_test_attacker0000000000000000")),
            (
                "/data/object/payment_intent",
                json!("pi_attacker000000000000"),
            ),
            (
                "/data/object/metadata",
                json!({"video_id": "trailer", "viewer_id": "mallory"}),
            ),
        ],
    );
    let (_, out) = deliver(&app, "stripe", &attacker).await;
    assert_eq!(out["status"], "granted", "{out}");
    let dispute = edited(
        "stripe/charge.dispute.created.json",
        &[
            ("/id", json!("evt_attacker_dispute")),
            (
                "/data/object/payment_intent",
                json!("pi_attacker000000000000"),
            ),
        ],
    );
    let (_, out) = deliver(&app, "stripe", &dispute).await;
    assert_eq!(out["status"], "revoked", "{out}");
    let ents = order_entitlements(&app, "order-1001").await;
    let status_of = |viewer: &str| {
        ents.iter()
            .find(|e| e["viewer_id"] == viewer)
            .map(|e| e["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of("mallory").as_deref(), Some("refunded"));
    assert_eq!(status_of("viewer-1").as_deref(), Some("active"), "{ents:?}");
}

#[tokio::test]
async fn a_payment_link_buyer_whose_email_no_viewer_id_can_hold_still_gets_the_film() {
    let app = providers_app(|_| {}).await;
    let body = edited(
        "stripe/checkout.session.completed.json",
        &[
            ("/data/object/customer", Value::Null),
            ("/data/object/metadata", json!({"video_id": "sample"})),
            (
                "/data/object/customer_details/email",
                json!("Jo+Films@example.com"),
            ),
        ],
    );
    let (_, out) = deliver(&app, "stripe", &body).await;
    assert_eq!(out["status"], "granted", "{out}");
    let viewer = order_entitlements(&app, "order-1001").await[0]["viewer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        viewer.starts_with("email-") && viewer.len() == 38,
        "{viewer}"
    );
}

#[tokio::test]
async fn paddle_and_lemon_squeezy_grant_what_was_bought_not_what_the_browser_wrote() {
    // Paddle.js passes customData from the buyer's browser: a buyer of the cheap price
    // writes the film and the window they want.
    let forged = edited(
        "paddle/transaction.completed.json",
        &[
            ("/data/custom_data/video_id", json!("trailer")),
            ("/data/custom_data/watch_for_s", json!(2_000_000)),
            ("/data/custom_data/max_streams", json!(50)),
        ],
    );
    let app = providers_app(|c| {
        c.paddle_prices = catalogue("pri_01gsz8x8sawmvhz1pv30nge1ke", "sample", Some(7200))
    })
    .await;
    let (_, out) = deliver(&app, "paddle", &forged).await;
    assert_eq!(out["status"], "granted", "{out}");
    let ent = &order_entitlements(&app, "order-2001").await[0];
    assert_eq!(ent["video_id"], "sample", "the price bought decides: {ent}");
    assert_eq!(ent["watch_for_s"], 7200);
    assert_ne!(ent["max_streams"], 50);

    // Nothing configured: no grant, and the answer says what to set.
    let app = providers_app(|c| {
        c.paddle_prices = vodgate::config::Catalogue::Unset;
        c.lemonsqueezy_variants = catalogue("999", "sample", None);
    })
    .await;
    let body = fixture("paddle/transaction.completed.json");
    let r = post_raw(
        &app,
        "paddle",
        &body,
        Some(&sign("paddle", PADDLE_SECRET, &body, None)),
    )
    .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("VODGATE_PADDLE_PRICES"),
        "{p}"
    );
    // A variant the shop did not list grants nothing either.
    let body = fixture("lemonsqueezy/order_created.json");
    let r = post_raw(
        &app,
        "lemonsqueezy",
        &body,
        Some(&sign("lemonsqueezy", LS_SECRET, &body, None)),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(order_entitlements(&app, "1").await.is_empty());

    // A shop that creates every checkout server-side may say so: custom data decides.
    let app = providers_app(|c| c.paddle_prices = vodgate::config::Catalogue::CustomData).await;
    let (_, out) = deliver(&app, "paddle", &forged).await;
    assert_eq!(out["status"], "granted", "{out}");
    assert_eq!(
        order_entitlements(&app, "order-2001").await[0]["video_id"],
        "trailer"
    );
}
