//! The console at `/console`: its page and files come from the binary,
//! under a policy that allows this origin's scripts and styles only, and
//! its public configuration says how staff sign in.

use axum::http::Method;
use navigator::http::console::SignIn;

use crate::{helpers::TestApp, on_both_databases};

async fn anonymous(app: &TestApp, uri: &str) -> crate::helpers::Reply {
    app.send(Method::GET, uri, None, None, &[]).await
}

on_both_databases! {
    async fn the_console_page_is_served_under_a_strict_policy(app) {
        let page = anonymous(app, "/console/").await.expect(200);
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        let csp = page.header("content-security-policy").unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        let html = page.body.as_str().unwrap();
        // Relative addresses: behind API Gateway the page is under the stage.
        assert!(html.contains(r#"<script type="module" src="app.js"></script>"#));
        // The headers every response carries are still there.
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));

        let moved = anonymous(app, "/console").await.expect(308);
        assert_eq!(moved.header("location"), Some("console/"));
    }

    async fn the_console_files_come_from_the_binary(app) {
        for (file, kind) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("patient.js", "text/javascript; charset=utf-8"),
            ("funnel.js", "text/javascript; charset=utf-8"),
            ("console.css", "text/css; charset=utf-8"),
        ] {
            let reply = anonymous(app, &format!("/console/{file}")).await.expect(200);
            assert_eq!(reply.header("content-type"), Some(kind), "{file}");
            assert!(!reply.body.as_str().unwrap().is_empty(), "{file}");
        }
        anonymous(app, "/console/secrets.js").await.expect_problem(404);
        anonymous(app, "/console/..%2Fserve.rs").await.expect_problem(404);
    }

    async fn the_console_configuration_is_public_and_says_how_to_sign_in(app) {
        let local = anonymous(app, "/console/config.json").await.expect(200);
        assert_eq!(local.body, serde_json::json!({"sign_in": "token"}));

        let domain = "https://navigator.auth.eu-west-1.amazoncognito.com";
        let cognito = app.with_state(|state| {
            state.with_console_sign_in(SignIn::Cognito {
                domain: domain.into(),
                client_id: "client-123".into(),
            })
        });
        let config = anonymous(&cognito, "/console/config.json").await.expect(200);
        assert_eq!(
            config.body,
            serde_json::json!({
                "sign_in": "cognito",
                "authorize_endpoint": format!("{domain}/oauth2/authorize"),
                "token_endpoint": format!("{domain}/oauth2/token"),
                "logout_endpoint": format!("{domain}/logout"),
                "client_id": "client-123",
                "scope": "openid email",
            })
        );
        // The page may exchange its code at the hosted UI, and nowhere else.
        let page = anonymous(&cognito, "/console/").await.expect(200);
        assert!(page
            .header("content-security-policy")
            .unwrap()
            .contains(&format!("connect-src 'self' {domain};")));
    }
}
