//! The web UI's static assets, embedded in the binary (no CDN, no build step). The script is a
//! set of ES modules under `ui/js/` (one per view plus shared helpers), each served at
//! `/js/<file>` so the browser resolves their relative imports against the same paths.

use axum::Router;
use axum::http::header;
use axum::routing::get;

use super::AppState;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every asset: the path it is served at, its content type, its text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("ui/index.html")),
    ("/style.css", CSS, include_str!("ui/style.css")),
    ("/js/app.js", JS, include_str!("ui/js/app.js")),
    ("/js/api.js", JS, include_str!("ui/js/api.js")),
    ("/js/chart.js", JS, include_str!("ui/js/chart.js")),
    ("/js/detail.js", JS, include_str!("ui/js/detail.js")),
    ("/js/dom.js", JS, include_str!("ui/js/dom.js")),
    ("/js/entity-view.js", JS, include_str!("ui/js/entity-view.js")),
    ("/js/events.js", JS, include_str!("ui/js/events.js")),
    ("/js/format.js", JS, include_str!("ui/js/format.js")),
    ("/js/job.js", JS, include_str!("ui/js/job.js")),
    ("/js/jobs.js", JS, include_str!("ui/js/jobs.js")),
    ("/js/live.js", JS, include_str!("ui/js/live.js")),
    ("/js/overview.js", JS, include_str!("ui/js/overview.js")),
    ("/js/range.js", JS, include_str!("ui/js/range.js")),
    ("/js/stats.js", JS, include_str!("ui/js/stats.js")),
    ("/js/table.js", JS, include_str!("ui/js/table.js")),
    ("/js/trace.js", JS, include_str!("ui/js/trace.js")),
    ("/js/url-state.js", JS, include_str!("ui/js/url-state.js")),
];

/// The path of every asset.
#[cfg(test)]
pub(crate) fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|&(path, _, _)| path)
}

/// True for the path of a static asset (they hold no data).
pub fn is_static_asset(path: &str) -> bool {
    ASSETS.iter().any(|&(asset, _, _)| asset == path)
}

pub fn routes() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, &(path, content_type, body)| {
        router.route(path, get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths a served asset loads: the page's module script and each module's imports.
    fn references(path: &str, text: &str) -> Vec<String> {
        let mut refs = Vec::new();
        for line in text.lines() {
            if let Some(src) = line.split("<script type=\"module\" src=\"").nth(1) {
                refs.extend(src.split('"').next().map(str::to_string));
            }
            if let Some(target) = line.strip_prefix("import ").and_then(|l| l.split(" from './").nth(1)) {
                let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
                refs.extend(target.split('\'').next().map(|file| format!("{dir}{file}")));
            }
        }
        refs
    }

    #[test]
    fn every_module_the_page_loads_is_served_as_javascript() {
        let served = |p: &str| ASSETS.iter().find(|(path, _, _)| *path == p).map(|&(_, ct, _)| ct);
        let mut loaded = Vec::new();
        for &(path, _, text) in ASSETS {
            for r in references(path, text) {
                assert_eq!(served(&r), Some(JS), "{path} loads {r}, which must be served as JavaScript");
                loaded.push(r);
            }
        }
        for &(path, ct, _) in ASSETS {
            assert!(ct != JS || loaded.iter().any(|l| l == path), "{path} is served but nothing loads it");
        }
        assert!(references("/", include_str!("ui/index.html")).contains(&"/js/app.js".to_string()));
    }
}
