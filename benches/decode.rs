//! Each adapter's conversion of one page of orders, from the wire JSON to domain orders, exactly
//! as the adapter does it (`marketsync_<adapter>::decode::orders_page`).
//!
//! The pages are what each marketplace's sandbox serves for its seeded orders (every status,
//! multi-line orders, several currencies, shipping texts, SKUs the catalog lacks), 100 orders
//! a page where the API pages (Tradera answers a date window in one page), read once with a
//! bare HTTP client before measuring.
//!
//! Run with `cargo bench --bench decode`. Wall-clock numbers on shared machines are noisy;
//! compare runs on the same machine only.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketsync_sandbox::{AllegroSandbox, ChannelAdvisorSandbox, ReverbSandbox, TraderaSandbox};

const ORDERS: usize = 100;
const SEED: u64 = 11;

/// Reads one body with a bare client; panics with the status on failure (a benchmark without
/// its input is useless).
async fn get(request: reqwest::RequestBuilder) -> Vec<u8> {
    let response = request.send().await.expect("the sandbox answers");
    let status = response.status();
    let body = response.bytes().await.expect("a body").to_vec();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

/// One page of each marketplace's orders, as its sandbox serves them.
fn pages() -> Vec<(&'static str, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let http = marketsync_http::client_builder().build().expect("an HTTP client");
        let mut out = Vec::new();

        let ca = ChannelAdvisorSandbox::builder()
            .seed(SEED)
            .products(50)
            .orders(ORDERS)
            .orders_page_size(ORDERS)
            .build()
            .start()
            .await
            .expect("ChannelAdvisor sandbox");
        let token = ca.issue_access_token();
        let url = format!(
            "{}/v1/Orders?exported=false&$expand=Items,Fulfillments&$top={ORDERS}",
            ca.base_url()
        );
        out.push((
            "channeladvisor",
            get(http.get(url).bearer_auth(token)).await,
        ));

        let reverb = ReverbSandbox::builder()
            .seed(SEED)
            .listings(50)
            .orders(ORDERS)
            .orders_per_page(ORDERS)
            .max_per_page(ORDERS)
            .build()
            .start()
            .await
            .expect("Reverb sandbox");
        let url = format!(
            "{}/api/my/orders/selling/all?per_page={ORDERS}",
            reverb.base_url()
        );
        out.push((
            "reverb",
            get(http
                .get(url)
                .bearer_auth(reverb.token())
                .header("Accept-Version", "3.0")
                .header("Accept", "application/hal+json"))
            .await,
        ));

        let allegro = AllegroSandbox::builder()
            .seed(SEED)
            .offers(50)
            .orders(ORDERS)
            .build()
            .start()
            .await
            .expect("Allegro sandbox");
        let token = allegro.credentials().access_token;
        let url = format!(
            "{}/order/checkout-forms?limit={ORDERS}",
            allegro.base_url()
        );
        out.push((
            "allegro",
            get(http
                .get(url)
                .bearer_auth(token)
                .header("Accept", "application/vnd.allegro.public.v1+json"))
            .await,
        ));

        let tradera = TraderaSandbox::builder()
            .seed(SEED)
            .items(50)
            .orders(ORDERS)
            .build()
            .start()
            .await
            .expect("Tradera sandbox");
        let creds = tradera.credentials();
        let url = format!(
            "{}/v4/orders?fromDate=2000-01-01T00:00:00Z&toDate=2100-01-01T00:00:00Z&queryDateMode=0",
            tradera.base_url()
        );
        out.push((
            "tradera",
            get(http
                .get(url)
                .header("X-App-Id", creds.app_id.to_string())
                .header("X-App-Key", creds.app_key.clone())
                .header("X-User-Id", creds.user_id.to_string())
                .header("X-User-Token", creds.user_token.clone()))
            .await,
        ));
        out
    })
}

/// Decodes a page with the adapter's own function: (orders read, orders rejected).
fn decode(channel: &str, body: &[u8]) -> (usize, usize) {
    match channel {
        "channeladvisor" => {
            let d = marketsync_channeladvisor::decode::orders_page(body).expect("a page");
            (d.orders.len() + d.items_cut.len(), d.rejected.len())
        }
        "reverb" => {
            let d = marketsync_reverb::decode::orders_page(body).expect("a page");
            (d.orders.len(), d.rejected.len())
        }
        "allegro" => {
            let d = marketsync_allegro::decode::orders_page(body).expect("a page");
            (d.orders.len(), d.rejected.len())
        }
        "tradera" => {
            let d = marketsync_tradera::decode::orders_page(body).expect("a page");
            (d.orders.len(), d.rejected.len())
        }
        other => unreachable!("no decoder for {other}"),
    }
}

fn orders_pages(c: &mut Criterion) {
    for (channel, body) in pages() {
        let (read, rejected) = decode(channel, &body);
        assert!(
            read > 0,
            "{channel}: the page decodes to no orders ({rejected} rejected)"
        );
        let mut g = c.benchmark_group(format!("decode/{channel}"));
        g.sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements((read + rejected) as u64));
        g.bench_function(
            format!(
                "orders page ({} orders, {} KiB)",
                read + rejected,
                body.len() / 1024
            ),
            |b| b.iter(|| black_box(decode(channel, black_box(&body)))),
        );
        g.finish();
    }
}

criterion_group!(benches, orders_pages);
criterion_main!(benches);
