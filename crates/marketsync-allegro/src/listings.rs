//! Offers: reading them by external id, quantity and price changes and ending through batch
//! commands (their tasks polled), and publishing from an offer template.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use marketsync_core::{
    ChannelError, ChannelListingId, EndListing, ErrorKind, ListingOutcome, ListingPage,
    ListingQuery, ListingUpdate, Money, NewListing, PageToken,
};
use marketsync_http::{Method, copy_error as copy};
use serde_json::{Value, json};

use crate::channel::AllegroChannel;
use crate::error::{is_account_wide, task_error};
use crate::wire::{self, OfferCriterium};
use crate::{convert, decode};

/// The most offers one batch command carries (`offerCriteria[].offers`).
pub const MAX_OFFERS_PER_COMMAND: usize = 1000;

/// The most `external.id` values one `GET /sale/offers` takes.
pub const MAX_EXTERNAL_IDS: usize = 100;

/// The most offers one `GET /sale/offers` page returns.
pub const MAX_OFFERS_PAGE: u32 = 1000;

/// The three batch commands the adapter sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum CommandKind {
    Quantity,
    Price,
    Publication,
}

impl CommandKind {
    fn path(&self) -> &'static str {
        match self {
            CommandKind::Quantity => "sale/offer-quantity-change-commands",
            CommandKind::Price => "sale/offer-price-change-commands",
            CommandKind::Publication => "sale/offer-publication-commands",
        }
    }

    fn as_str(&self) -> &'static str {
        match self {
            CommandKind::Quantity => "quantity",
            CommandKind::Price => "price",
            CommandKind::Publication => "publication",
        }
    }
}

/// One command to send: a modification applied to every offer in `offers`.
struct Group {
    kind: CommandKind,
    /// The modification, as text (`FIXED 5`, `FIXED_PRICE 19.99 PLN`, `END`).
    key: String,
    body: Value,
    offers: Vec<String>,
}

type TaskResults = BTreeMap<String, Result<(), ChannelError>>;

impl AllegroChannel {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends every group as one command (`PUT …/{commandId}`; 409 = already sent, as when a
    /// retry follows a lost answer) and reads the tasks until every offer is done or the
    /// polling budget is spent. One result per offer per group, in group order. An error
    /// concerning the whole account (`Auth`, `RateLimited`) ends the call.
    async fn run_commands(
        &self,
        groups: &[Group],
        op: &'static str,
    ) -> Result<Vec<TaskResults>, ChannelError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut results: Vec<TaskResults> = Vec::with_capacity(groups.len());
        // (group index, command id, content digest) of the commands Allegro accepted.
        let mut submitted: Vec<(usize, String, u64)> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let offers = g.offers.join(",");
            let digest = convert::digest(0, &[g.kind.as_str(), &g.key, &offers]);
            let id = self.pending().get(&digest).cloned().unwrap_or_else(|| {
                convert::derived_uuid(&[&nonce, g.kind.as_str(), &g.key, &offers])
            });
            self.pending().insert(digest, id.clone());
            let path = format!("{}/{id}", g.kind.path());
            let sent = self
                .client
                .send_json(Method::PUT, &path, &[], &g.body, op, true)
                .await;
            match sent {
                Ok(_) => submitted.push((i, id, digest)),
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    tracing::debug!(command = %id, "command id already used: reading its tasks");
                    submitted.push((i, id, digest));
                }
                Err(e) if is_account_wide(&e) => {
                    self.pending().remove(&digest);
                    return Err(e);
                }
                Err(e) => {
                    self.pending().remove(&digest);
                    // A 404 to the command as a whole names no offer: not `NotFound` for each
                    // (every link of the command would be marked broken), a `Channel` error.
                    let e = if e.kind() == ErrorKind::NotFound {
                        command_not_found(&e, g.kind)
                    } else {
                        e
                    };
                    results.push(TaskResults::new());
                    let r = results.last_mut().expect("just pushed");
                    for o in &g.offers {
                        r.insert(o.clone(), Err(copy(&e)));
                    }
                    continue;
                }
            }
            results.push(TaskResults::new());
        }

        let polling = self.config.polling;
        let mut open: Vec<(usize, String, u64)> = submitted;
        for round in 0..polling.max_polls {
            if open.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(polling.interval).await;
            }
            let mut still_open = Vec::new();
            for (i, id, digest) in open {
                let group = &groups[i];
                let path = format!("{}/{id}/tasks", group.kind.path());
                let query = [("limit", "1000".to_owned()), ("offset", "0".to_owned())];
                let report: wire::TaskReport = match self.client.get(&path, &query, op).await {
                    Ok(r) => r,
                    Err(e) if is_account_wide(&e) => return Err(e),
                    Err(e) => {
                        tracing::debug!(command = %id, error = %e, "reading the tasks failed");
                        still_open.push((i, id, digest));
                        continue;
                    }
                };
                let r = &mut results[i];
                for task in report.tasks {
                    let Some(offer) = task.offer.map(|o| o.id) else {
                        continue;
                    };
                    if !group.offers.contains(&offer) {
                        continue;
                    }
                    match task.status.as_deref() {
                        Some("SUCCESS") => {
                            r.insert(offer, Ok(()));
                        }
                        Some("FAIL") => {
                            r.insert(
                                offer,
                                Err(task_error(task.message.as_deref(), &task.errors)),
                            );
                        }
                        _ => {}
                    }
                }
                if group.offers.iter().all(|o| r.contains_key(o)) {
                    self.pending().remove(&digest);
                } else {
                    still_open.push((i, id, digest));
                }
            }
            open = still_open;
        }
        for (i, id, _) in open {
            let r = &mut results[i];
            for o in &groups[i].offers {
                r.entry(o.clone()).or_insert_with(|| {
                    Err(ChannelError::transient(format!(
                        "Allegro is still processing {} command {id}; the next sync reads its result",
                        groups[i].kind.as_str()
                    )))
                });
            }
        }
        Ok(results)
    }

    /// The groups for `offers` with one modification, at most [`MAX_OFFERS_PER_COMMAND`] each.
    fn groups(
        kind: CommandKind,
        key: &str,
        body: &dyn Fn(&[String]) -> Value,
        offers: &BTreeSet<String>,
    ) -> Vec<Group> {
        let offers: Vec<String> = offers.iter().cloned().collect();
        offers
            .chunks(MAX_OFFERS_PER_COMMAND)
            .map(|chunk| Group {
                kind,
                key: key.to_owned(),
                body: body(chunk),
                offers: chunk.to_vec(),
            })
            .collect()
    }

    fn end_groups(offers: &BTreeSet<String>) -> Vec<Group> {
        Self::groups(
            CommandKind::Publication,
            "END",
            &|ids| {
                json!(wire::PublicationCommand {
                    publication: wire::PublicationAction { action: "END" },
                    offer_criteria: OfferCriterium::offers(ids),
                })
            },
            offers,
        )
    }

    /// `GET /sale/offers` by `external.id` (at most 100 per request) or every offer, `limit` /
    /// `offset` paging; without `include_ended` only `INACTIVE`, `ACTIVATING` and `ACTIVE`.
    pub(crate) async fn read_offers(
        &self,
        query: &ListingQuery,
    ) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let skus: Vec<&str> = query.skus.iter().map(|s| s.as_str()).collect();
        let chunks: Vec<&[&str]> = skus.chunks(MAX_EXTERNAL_IDS).collect();
        let (chunk, offset) = match &query.page {
            Some(PageToken(t)) => {
                let (c, o) = t.split_once(':').unwrap_or((t.as_str(), "0"));
                (
                    c.parse::<usize>().unwrap_or(0),
                    o.parse::<u64>().unwrap_or(0),
                )
            }
            None => (0, 0),
        };
        if !chunks.is_empty() && chunk >= chunks.len() {
            return Ok(ListingPage::default());
        }
        let limit = query
            .page_size
            .unwrap_or(MAX_OFFERS_PAGE)
            .clamp(1, MAX_OFFERS_PAGE);
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(c) = chunks.get(chunk) {
            params.extend(c.iter().map(|s| ("external.id", (*s).to_owned())));
        }
        if !query.include_ended {
            for s in ["INACTIVE", "ACTIVATING", "ACTIVE"] {
                params.push(("publication.status", s.to_owned()));
            }
        }
        params.push(("limit", limit.to_string()));
        params.push(("offset", offset.to_string()));
        let response = self
            .client
            .get_response("sale/offers", &params, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let page = decode::listings_page(response.bytes()).map_err(|e| {
            let e = if e.http_status().is_none() {
                e.with_http_status(response.status().as_u16())
            } else {
                e
            };
            self.err(e, op)
        })?;
        let n = page.offers;
        let listings = page.listings;
        let more_here = n > 0 && offset + n < page.total_count.unwrap_or(0);
        let next_page = if more_here {
            Some(PageToken(format!("{chunk}:{}", offset + n)))
        } else if chunk + 1 < chunks.len() {
            Some(PageToken(format!("{}:0", chunk + 1)))
        } else {
            None
        };
        Ok(ListingPage {
            listings,
            next_page,
        })
    }

    /// Price and quantity through the change commands, grouped by identical modification: one
    /// `FIXED` quantity command per distinct quantity, one `FIXED_PRICE` command per distinct
    /// price (each up to 1,000 offers); quantity 0, which a quantity command cannot set, ends
    /// the offer (publication command `END`). Then the tasks are polled; an update succeeds
    /// when every part of it did. Titles are not sent.
    pub(crate) async fn send_offer_changes(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut quantities: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        let mut ends: BTreeSet<String> = BTreeSet::new();
        let mut prices: BTreeMap<String, (Money, BTreeSet<String>)> = BTreeMap::new();
        for u in updates {
            let id = u.listing_id.as_str().to_owned();
            match u.quantity {
                Some(0) => {
                    ends.insert(id.clone());
                }
                Some(q) => {
                    quantities.entry(q).or_default().insert(id.clone());
                }
                None => {}
            }
            if let Some(p) = &u.price {
                prices
                    .entry(price_key(p))
                    .or_insert_with(|| (*p, BTreeSet::new()))
                    .1
                    .insert(id);
            }
        }
        let mut groups = Vec::new();
        for (q, offers) in &quantities {
            let q = *q;
            groups.extend(Self::groups(
                CommandKind::Quantity,
                &format!("FIXED {q}"),
                &|ids| {
                    json!(wire::QuantityCommand {
                        modification: wire::QuantityModification {
                            change_type: "FIXED",
                            value: q,
                        },
                        offer_criteria: OfferCriterium::offers(ids),
                    })
                },
                offers,
            ));
        }
        for (key, (money, offers)) in &prices {
            groups.extend(Self::groups(
                CommandKind::Price,
                key,
                &|ids| {
                    json!(wire::PriceCommand {
                        modification: wire::PriceModification {
                            kind: "FIXED_PRICE",
                            price: convert::price(money),
                        },
                        offer_criteria: OfferCriterium::offers(ids),
                    })
                },
                offers,
            ));
        }
        // Ending comes last, once the price and quantity changes are done: Allegro refuses to
        // change an ended offer, and processes commands in no particular order, so a price
        // change sent alongside the END of the same offer (a quantity of 0 with the item's
        // price) could fail with "the offer has ended".
        let mut results = self
            .run_commands(&groups, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let end_groups = Self::end_groups(&ends);
        results.extend(
            self.run_commands(&end_groups, op)
                .await
                .map_err(|e| self.err(e, op))?,
        );
        groups.extend(end_groups);
        let mut by_part: HashMap<(CommandKind, String, String), Result<(), ChannelError>> =
            HashMap::new();
        for (g, r) in groups.iter().zip(results) {
            for (offer, result) in r {
                by_part.insert((g.kind, g.key.clone(), offer), result);
            }
        }
        let part = |kind: CommandKind, key: String, id: &str| -> Result<(), ChannelError> {
            match by_part.get(&(kind, key, id.to_owned())) {
                Some(Ok(())) => Ok(()),
                Some(Err(e)) => Err(copy(e)),
                None => Err(ChannelError::transient("no result for this offer")),
            }
        };
        Ok(updates
            .iter()
            .map(|u| {
                let id = u.listing_id.as_str();
                let quantity = match u.quantity {
                    Some(0) => part(CommandKind::Publication, "END".into(), id),
                    Some(q) => part(CommandKind::Quantity, format!("FIXED {q}"), id),
                    None => Ok(()),
                };
                let price = match &u.price {
                    Some(p) => part(CommandKind::Price, price_key(p), id),
                    None => Ok(()),
                };
                let r = quantity.and(price).map_err(|e| self.err(e, op));
                outcome(&u.listing_id, Some(u.sku.clone()), r)
            })
            .collect())
    }

    /// `POST /sale/product-offers`, one per listing, from the configured offer template with
    /// `name`, `external.id`, `sellingMode.price`, `stock.available` and `publication.status`
    /// (`ACTIVE` or `INACTIVE`) set. Sent once (a create is not idempotent); 201 and 202 both
    /// give the new offer's id.
    pub(crate) async fn create_offers(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "publish_listings";
        let Some(template) = &self.config.offer_template else {
            return Err(self.err(
                ChannelError::unsupported(
                    "publishing on Allegro needs an offer template (category, product, delivery and after-sales settings): configure AllegroConfigBuilder::offer_template, or create the offer in Sales Center and link it by external id",
                ),
                op,
            ));
        };
        let mut out = Vec::with_capacity(listings.len());
        for l in listings {
            let mut body = template.clone();
            if let Some(map) = body.as_object_mut() {
                map.insert("name".into(), json!(l.title));
                map.insert("external".into(), json!({"id": l.sku.as_str()}));
                let selling = map.entry("sellingMode").or_insert_with(|| json!({}));
                if let Some(s) = selling.as_object_mut() {
                    s.insert("price".into(), json!(convert::price(&l.price)));
                }
                map.insert("stock".into(), json!({"available": l.quantity}));
                let publication = map.entry("publication").or_insert_with(|| json!({}));
                if let Some(p) = publication.as_object_mut() {
                    p.insert(
                        "status".into(),
                        json!(if l.publish { "ACTIVE" } else { "INACTIVE" }),
                    );
                }
            }
            let result = self
                .client
                .send_json(Method::POST, "sale/product-offers", &[], &body, op, false)
                .await
                .and_then(|r| r.json::<wire::CreatedOffer>())
                .and_then(|c| {
                    ChannelListingId::new(c.id).map_err(|e| {
                        ChannelError::new(
                            ErrorKind::Channel,
                            format!("Allegro sent an unusable offer id: {e}"),
                        )
                    })
                });
            match result {
                Ok(id) => out.push(ListingOutcome {
                    listing_id: Some(id.clone()),
                    sku: Some(l.sku.clone()),
                    result: Ok(id),
                }),
                Err(e) if is_account_wide(&e) => return Err(self.err(e, op)),
                Err(e) => out.push(ListingOutcome {
                    listing_id: None,
                    sku: Some(l.sku.clone()),
                    result: Err(self.err(e, op)),
                }),
            }
        }
        Ok(out)
    }

    /// Publication command `END` for up to 1,000 offers, then its tasks are polled. An offer
    /// Allegro no longer has counts as ended.
    pub(crate) async fn end_offers(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let ids: BTreeSet<String> = listings
            .iter()
            .map(|l| l.listing_id.as_str().to_owned())
            .collect();
        let groups = Self::end_groups(&ids);
        let results = self
            .run_commands(&groups, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let mut by_offer: HashMap<String, Result<(), ChannelError>> = HashMap::new();
        for r in results {
            by_offer.extend(r);
        }
        Ok(listings
            .iter()
            .map(|l| {
                let r = match by_offer.get(l.listing_id.as_str()) {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Some(Err(e)) => Err(self.err(copy(e), op)),
                    None => Err(self.err(ChannelError::transient("no result for this offer"), op)),
                };
                outcome(&l.listing_id, l.sku.clone(), r)
            })
            .collect())
    }
}

/// A 404 answered to a whole batch command, as the `Channel` error each of its offers gets.
fn command_not_found(e: &ChannelError, kind: CommandKind) -> ChannelError {
    let mut out = ChannelError::new(
        ErrorKind::Channel,
        format!(
            "Allegro answered the {} command with not found: {}",
            kind.as_str(),
            e.message()
        ),
    );
    if let Some(s) = e.http_status() {
        out = out.with_http_status(s);
    }
    if let Some(m) = e.channel_message() {
        out = out.with_channel_message(m);
    }
    out
}

fn outcome(
    id: &ChannelListingId,
    sku: Option<marketsync_core::Sku>,
    r: Result<(), ChannelError>,
) -> ListingOutcome {
    ListingOutcome {
        listing_id: Some(id.clone()),
        sku,
        result: r.map(|()| id.clone()),
    }
}

fn price_key(m: &Money) -> String {
    format!(
        "FIXED_PRICE {} {}",
        m.amount().normalize(),
        m.currency().code()
    )
}
