//! The web pages: the agent console, the storefront chat widget and the demo storefront.
//!
//! Everything is plain HTML, CSS and JavaScript embedded in the binary with `include_str!`,
//! so the service is self-contained and nothing is downloaded at run time. The pages talk to
//! the service only through the documented HTTP API (`docs/api.md`): the console with an
//! agent token, the widget through the public widget channel.
//!
//! | path | what |
//! |---|---|
//! | `GET /` | a small index page leading to the console, the demo and the API description |
//! | `GET /console` | the agent console |
//! | `GET /demo` | the demo storefront "Lumen Flagship Store", carrying the widget's one `<script>` tag |
//! | `GET /widget.js` | the embeddable chat widget |
//! | `GET /assets/{file}` | the pages' styles, scripts and icons |
//!
//! Untrusted text (customer messages, ticket fields) is only ever put on a page by the
//! scripts through DOM APIs and `textContent`; the one server-side substitution (the demo
//! page's shop id and widget key, both from the configuration) goes through
//! [`escape_attr`].

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// The demo shop's public widget key when the configuration names none (development only).
pub(crate) const DEV_WIDGET_KEY: &str = "pk_demo_dev";

/// Which shop the demo storefront page embeds the widget for.
#[derive(Debug, Clone)]
pub(crate) struct DemoShop {
    /// The shop id the widget talks to (`data-shop`).
    pub shop: String,
    /// The shop's public widget key (`data-key`); public by design, never the webhook secret.
    pub widget_key: String,
}

impl Default for DemoShop {
    fn default() -> Self {
        Self { shop: "demo".to_owned(), widget_key: DEV_WIDGET_KEY.to_owned() }
    }
}

/// Content-Security-Policy of the console and demo pages: only this origin's scripts and
/// styles, no inline script, no plugins, no framing.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONSOLE_HTML: &str = include_str!("assets/console.html");
const INDEX_HTML: &str = include_str!("assets/index.html");
const DEMO_HTML: &str = include_str!("assets/demo.html");
const WIDGET_JS: &str = include_str!("assets/widget.js");

/// The static assets under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("console.css", "text/css; charset=utf-8", include_bytes!("assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("assets/console.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_bytes!("assets/charts.js")),
    ("gaps.js", "text/javascript; charset=utf-8", include_bytes!("assets/gaps.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("assets/i18n.js")),
    ("demo.css", "text/css; charset=utf-8", include_bytes!("assets/demo.css")),
    ("widget.css", "text/css; charset=utf-8", include_bytes!("assets/widget.css")),
    ("logo.svg", "image/svg+xml", include_bytes!("assets/logo.svg")),
];

/// The pages' routes. They need no application state, so the router is generic over it and
/// merges into the service's root router as it is.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(demo: DemoShop) -> Router<S> {
    let demo_html = render_demo(&demo);
    Router::new()
        .route("/", get(|| std::future::ready(html_page(INDEX_HTML.to_owned()))))
        .route("/console", get(console_page))
        .route("/console/", get(console_page))
        .route("/demo", get(move || std::future::ready(html_page(demo_html.clone()))))
        .route("/widget.js", get(widget_js))
        .route("/assets/{file}", get(asset))
}

/// The demo page with the shop id and widget key put into the widget's `<script>` tag.
fn render_demo(demo: &DemoShop) -> String {
    DEMO_HTML.replace("{{SHOP}}", &escape_attr(&demo.shop)).replace("{{WIDGET_KEY}}", &escape_attr(&demo.widget_key))
}

/// Escapes a value for a double-quoted HTML attribute.
pub(crate) fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

async fn console_page() -> Response {
    html_page(CONSOLE_HTML.to_owned())
}

/// An HTML page with the strict policy headers; never cached, so a new binary's page is
/// picked up at once.
fn html_page(body: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// The widget script. Loaded cross-origin by storefronts with a plain `<script>` tag, so it
/// needs no CORS; cached briefly so a new version spreads within minutes.
async fn widget_js() -> Response {
    static_response("text/javascript; charset=utf-8", WIDGET_JS.as_bytes(), "public, max-age=300", true)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        // widget.css is loaded by the widget from storefront pages of other origins.
        Some((name, ctype, body)) => static_response(ctype, body, "public, max-age=300", *name == "widget.css"),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn static_response(ctype: &'static str, body: &'static [u8], cache: &'static str, cross_origin: bool) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if cross_origin {
        h.insert(header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin"));
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    } else {
        h.insert(header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(escape_attr(r#"a"b<c>&'"#), "a&quot;b&lt;c&gt;&amp;&#39;");
    }

    #[test]
    fn demo_page_carries_the_widget_tag_with_the_shop_key() {
        let html = render_demo(&DemoShop { shop: "demo".into(), widget_key: "pk_\"x".into() });
        assert!(html.contains(r#"data-shop="demo""#));
        assert!(html.contains(r#"data-key="pk_&quot;x""#));
        assert!(!html.contains("{{"));
    }

    async fn get(path: &str) -> Response {
        use tower::ServiceExt;
        let app: Router = routes(DemoShop::default());
        let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        app.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn pages_are_html_with_a_strict_policy() {
        for path in ["/", "/console", "/demo"] {
            let res = get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let h = res.headers();
            assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        }
    }

    #[tokio::test]
    async fn widget_and_assets_have_their_content_types_and_unknown_assets_are_404() {
        let res = get("/widget.js").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
        assert_eq!(get("/assets/console.css").await.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(get("/assets/../Cargo.toml").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/assets/nope.js").await.status(), StatusCode::NOT_FOUND);
    }

    /// The console's strings of one language: the text between `LANG: {` and the next
    /// language (or the end of the table).
    fn strings_of(lang: &str) -> &'static str {
        let i18n = include_str!("assets/i18n.js");
        let start = i18n.find(&format!("\n    {lang}: {{")).unwrap_or_else(|| panic!("i18n.js has no {lang} table"));
        let rest = &i18n[start + 1..];
        let end = rest[1..].find("\n    zh: {").or_else(|| rest.find("\n  };")).map_or(rest.len(), |e| e + 1);
        &rest[..end]
    }

    fn has_label(lang: &str, key: &str) -> bool {
        strings_of(lang).split(&format!("'{key}': '")).nth(1).is_some_and(|v| !v.starts_with('\''))
    }

    #[test]
    fn every_escalation_reason_the_server_can_emit_has_a_label_in_both_languages() {
        // Every wire name of `EscalationReason` (`ALL` comes from the macro that defines the
        // enum): a new reason appears here without anyone listing it.
        let reasons: Vec<&str> = crate::domain::EscalationReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(reasons.len() >= 8, "{reasons:?}");
        for reason in reasons {
            for lang in ["en", "zh"] {
                assert!(has_label(lang, &format!("reason.{reason}")), "reason {reason} has no {lang} label in i18n.js");
            }
        }
    }

    #[test]
    fn every_intent_of_the_demo_shop_has_a_label_in_both_languages() {
        let kb: toml::Value = toml::from_str(include_str!("../../knowledge-base/demo/intents.toml")).unwrap();
        let intents = kb["intent"].as_array().unwrap();
        assert!(intents.len() > 10);
        for intent in intents {
            let name = intent["name"].as_str().unwrap();
            for lang in ["en", "zh"] {
                assert!(has_label(lang, &format!("intent.{name}")), "intent {name} has no {lang} label in i18n.js");
            }
        }
        assert!(!has_label("en", "intent.no_such_intent"));
    }

    #[test]
    fn every_page_script_is_an_embedded_asset() {
        for html in [CONSOLE_HTML, DEMO_HTML, INDEX_HTML] {
            for part in html.split("src=\"/assets/").skip(1) {
                let name = part.split('"').next().unwrap_or_default();
                assert!(ASSETS.iter().any(|(n, _, _)| *n == name), "missing asset {name}");
            }
        }
    }
}
