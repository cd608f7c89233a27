//! The HTTP server: the `/v1` API of DESIGN.md, Handshake's `/api/flight_recorder` (and
//! `/api/events`), `/healthz`, `/metrics`, the OpenAPI document and the embedded web UI, on axum.
//!
//! Safety defaults: binds 127.0.0.1 unless told otherwise, and refuses a non-loopback address
//! without a bearer token; with a token, every route but `/healthz` and the static UI assets
//! (which hold no data) requires `Authorization: Bearer <token>`. Requests a browser was
//! tricked into sending (another site's page, a rebound DNS name) are refused (`guard`), POST
//! routes take only their own media types (`/v1/traces` and `/v1/logs` take OTLP/HTTP, `otlp`), bodies are limited (16 MiB for JSON, 1 GiB streamed
//! NDJSON with each line limited to one event; a `Content-Length` over the limit is refused
//! before the body is read), arrays to 10,000 events, requests served at once to 64 (more get
//! 503), and every request to 30 seconds (`limits`). With a certificate and key it
//! speaks only HTTPS (`tls`), so a token off loopback need not cross the network in clear.

pub mod api;
pub mod error;
pub mod gate;
pub mod guard;
pub mod handshake;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod otlp;
pub mod summary;
pub mod tls;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Code;
use crate::recorder::Recorder;
use error::ApiError;
use metrics::Metrics;

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:7080";
/// Largest JSON body of `POST /v1/events`.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Most bytes one NDJSON body may carry (lines are limited to one event's size each).
pub const MAX_NDJSON_BYTES: u64 = 1 << 30;
/// Longest a request may take, by default (a slow body is cut off with 408).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Bearer token required on every route but `/healthz` and the static UI.
    pub token: Option<String>,
    /// Longest a request may take, reading its body included (and a TLS handshake).
    pub request_timeout: Duration,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<tls::TlsConfig>,
    /// Host names the server answers to besides its address and the loopback names.
    pub allowed_hosts: Vec<String>,
    /// Requests served at once; more are answered 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            token: None,
            request_timeout: REQUEST_TIMEOUT,
            tls: None,
            allowed_hosts: Vec::new(),
            max_concurrent_requests: limits::MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// The OpenAPI document of the routes served.
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{code}: refusing to listen on {0} (not a loopback address) without a bearer \
         token; pass --token or set FLIGHTREC_TOKEN",
        code = Code::TokenRequired
    )]
    TokenRequired(SocketAddr),
    #[error("{}: listen on {addr}: {source}", Code::Io)]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsFileError),
}

impl ServeError {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServeError::TokenRequired(_) => Code::TokenRequired,
            ServeError::Bind { .. } => Code::Io,
            ServeError::Tls(e) => e.code(),
        }
    }
}

/// Binds the listener, enforcing the token rule.
pub async fn bind(addr: SocketAddr, token: Option<&str>) -> Result<tokio::net::TcpListener, ServeError> {
    if !addr.ip().is_loopback() && token.is_none_or(str::is_empty) {
        return Err(ServeError::TokenRequired(addr));
    }
    tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })
}

/// Every route of the API, each registered from its handler's `#[utoipa::path]` (which names
/// its path), with its OpenAPI document: the routes behind the token, the open ones
/// (`/healthz`), and the document of both. A new route goes here, the same way (see `openapi`).
pub(crate) fn documented_routes() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (protected, protected_doc) = OpenApiRouter::new()
        .routes(routes!(api::post_events))
        .routes(routes!(api::get_events))
        .routes(routes!(api::post_ndjson))
        .routes(routes!(otlp::post_traces))
        .routes(routes!(otlp::post_logs))
        .routes(routes!(api::get_trace))
        .routes(routes!(api::get_job))
        .routes(routes!(summary::get_summary))
        .routes(routes!(summary::get_jobs))
        .routes(routes!(api::run_retention))
        .routes(routes!(api::get_stats))
        .routes(routes!(openapi::get_document))
        .routes(routes!(api::get_metrics))
        .routes(routes!(handshake::flight_recorder))
        .routes(routes!(handshake::events))
        .split_for_parts();
    let (open, open_doc) = OpenApiRouter::new().routes(routes!(healthz)).split_for_parts();
    (protected, open, openapi::document([protected_doc, open_doc]))
}

/// The router of the whole service, for a server listening on `bound`: every route behind
/// the one middleware of `gate`.
pub fn router(recorder: Recorder, opts: &ServerOptions, bound: SocketAddr) -> Router {
    let (protected, open, doc) = documented_routes();
    let state = AppState { recorder, metrics: Arc::new(Metrics::default()), openapi: Arc::new(doc) };
    let gate = gate::Gate {
        hosts: Arc::new(guard::AllowedHosts::new(bound, &opts.allowed_hosts)),
        concurrency: limits::ConcurrencyGate::new(opts.max_concurrent_requests),
        token: opts.token.clone().filter(|t| !t.is_empty()).map(Arc::from),
        timeout: opts.request_timeout,
    };
    Router::new()
        .merge(protected)
        .merge(ui::routes())
        .merge(open)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(gate, gate::gate))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops taking connections, lets the requests in
/// flight finish (for at most the request timeout) and shuts the recorder down (flushing the
/// WAL). Each connection is HTTP/1.1 (over TLS when `opts.tls` is set) with a header-read
/// timeout, so a client that never finishes its headers is dropped; the request timeout bounds
/// the TLS handshake and everything after the headers.
pub async fn run(
    listener: tokio::net::TcpListener,
    recorder: Recorder,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(recorder.clone(), &opts, listener.local_addr()?);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = opts.tls.as_ref().map(tls::TlsConfig::acceptor);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Watched from the accept on, so a shutdown also waits for (bounded) handshakes.
        let (app, watcher, acceptor, timeout) =
            (app.clone(), graceful.watcher(), acceptor.clone(), opts.request_timeout);
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, app, timeout, watcher).await,
                Some(acceptor) => {
                    if let Some(stream) = tls::handshake(&acceptor, stream, timeout).await {
                        serve_connection(stream, app, timeout, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(opts.request_timeout) => tracing::warn!("shutdown: requests still running after the timeout"),
    }
    if let Err(e) = recorder.shutdown().await {
        tracing::error!(error = %e, "shutdown: flushing the WAL failed");
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection, plain or TLS, until the client or a shutdown ends it.
async fn serve_connection<S>(stream: S, app: Router, timeout: Duration, watcher: hyper_util::server::graceful::Watcher)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing requests and flushing the WAL");
}

/// The answer of `GET /healthz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: the process is up.
    pub status: &'static str,
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", summary = "Liveness", security(),
    responses((status = 200, description = "OK", body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
