//! The Content Security Policy, in one place: the server sends it on every
//! response, and the page shell (SSR) adds the per-request nonce that lets
//! Leptos's inline hydration script run.
//!
//! `'wasm-unsafe-eval'` is what compiling the WASM client needs; it does not
//! allow JavaScript `eval`. Everything else is same-origin only, and no site
//! may frame the dashboard.

/// The policy, with `nonce` allowed to run inline scripts when given.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{nonce}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
         worker-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Sets this page's policy, with the nonce leptos_axum made for this request.
#[cfg(feature = "ssr")]
pub fn apply_page_policy() {
    use leptos::prelude::use_context;
    let nonce = leptos::nonce::use_nonce().map(|n| n.to_string());
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(value) = http::HeaderValue::from_str(&content_security_policy(nonce.as_deref()))
    {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_allowed_only_for_scripts() {
        let policy = content_security_policy(Some("abc"));
        assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc';"), "{policy}");
        assert_eq!(policy.matches("nonce-").count(), 1);
        assert!(!content_security_policy(None).contains("nonce"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
