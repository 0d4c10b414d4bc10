//! The gateway over HTTP on loopback, on SQLite and (with `KASIR_TEST_MYSQL_URL`) MariaDB:
//! Logins, refresh rotation and reuse, logout, rate limits, tokens shared by two instances.

mod common;

use common::{Gateway, assert_error_body, backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_rotation_reuse_and_logout() {
    for backend in backends() {
        let gw = Gateway::start(backend, "auth", |_| {}).await;
        // Wrong password and unknown user look the same.
        for (u, p) in [
            (common::ADMIN.0, "nope-nope-nope-1"),
            ("ghost", "whatever-123456"),
        ] {
            let (s, v) = gw
                .call(
                    Method::POST,
                    "/api/auth/login",
                    None,
                    Some(json!({ "username": u, "password": p })),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend}");
            assert_error_body(&v);
            assert_eq!(v["message"], "Invalid username or password");
        }
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": common::ADMIN.0, "password": common::ADMIN.1 })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["user"]["role"], "super_admin");
        let access = v["access_token"].as_str().unwrap().to_string();
        let r1 = v["refresh_token"].as_str().unwrap().to_string();
        let (s, _) = gw.get("/api/sync/status/1", &access).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{backend}: no store 1 yet, but authenticated"
        );

        // Rotation: r1 → (a2, r2); r1 is spent.
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r1 })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a2 = v["access_token"].as_str().unwrap().to_string();
        let r2 = v["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r1, r2);
        // The seed's form: the refresh token as bearer.
        let (s, v) = gw
            .call(Method::POST, "/api/auth/refresh", Some(&r2), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a3 = v["access_token"].as_str().unwrap().to_string();
        let r3 = v["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(
            gw.get("/api/products?store_id=1", &a3).await.0,
            StatusCode::OK
        );
        // Reusing the spent r1 revokes the whole family: a2, a3 and r3 stop working.
        let (s, v) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r1 })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_error_body(&v);
        for a in [&a2, &a3, &access] {
            assert_eq!(
                gw.get("/api/products?store_id=1", a).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let (s, _) = gw
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": r3 })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Logout revokes the session of the token it is called with.
        let (a, _) = gw.login(common::ADMIN.0, common::ADMIN.1).await;
        let (s, v) = gw
            .call(Method::POST, "/api/auth/logout", Some(&a), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["message"], "Successfully logged out");
        assert_eq!(
            gw.get("/api/products?store_id=1", &a).await.0,
            StatusCode::UNAUTHORIZED
        );
        // A forged or garbled token.
        let forged = format!("{}0", &a[..a.len() - 1]);
        assert_eq!(
            gw.get("/api/products?store_id=1", &forged).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            gw.get("/api/products?store_id=1", "kd1.nothing").await.0,
            StatusCode::UNAUTHORIZED
        );
        gw.stop().await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_with_retry_after() {
    let gw = Gateway::start("sqlite", "rate", |c| {
        c.rate_limit_per_minute = 5;
        c.login_rate_per_minute = 2;
    })
    .await;
    let body = json!({ "username": "ghost", "password": "whatever-123456" });
    for _ in 0..2 {
        let (s, _) = gw
            .call(Method::POST, "/api/auth/login", None, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let r = gw
        .client
        .post(format!("{}/api/auth/login", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_error_body(&v);
    assert_eq!(v["message"], "Too many requests");
    // Any other request counts against the address (and the token): 5 a minute here, two
    // of them spent on the logins above (the refused third never reached this budget).
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(gw.get("/api/products?store_id=1", "kd1.someone").await.0);
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Health is never limited.
    for _ in 0..10 {
        assert_eq!(
            gw.call(Method::GET, "/health", None, None).await.0,
            StatusCode::OK
        );
    }
    gw.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_instances_share_tokens_and_revocations() {
    for backend in backends() {
        let a = Gateway::start(backend, "multi", |_| {}).await;
        // A second instance on the same database (its own caches and limits).
        let b = a.second_instance().await;
        let (access, refresh) = a.login(common::ADMIN.0, common::ADMIN.1).await;
        assert_eq!(
            b.get("/api/products?store_id=1", &access).await.0,
            StatusCode::OK,
            "{backend}"
        );
        // Rotation on B, reuse of the spent token on A: the family is revoked everywhere.
        let (s, v) = b
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": refresh })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a2 = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            a.get("/api/products?store_id=1", &a2).await.0,
            StatusCode::OK
        );
        let (s, _) = a
            .call(
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({ "refresh_token": refresh })),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // B may have the session cached for up to a second.
        tokio::time::sleep(
            kasir_gateway::auth::SESSION_CACHE + std::time::Duration::from_millis(100),
        )
        .await;
        for gw in [&a, &b] {
            assert_eq!(
                gw.get("/api/products?store_id=1", &a2).await.0,
                StatusCode::UNAUTHORIZED,
                "{backend}"
            );
        }
        b.stop().await;
        a.stop().await;
    }
}
