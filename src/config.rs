//! Channels from configuration: [`ChannelConfig`] reads one adapter's config from a file (any
//! serde format), tagged by the channel's name, and [`channel_from_config`] makes the adapter.
//!
//! Each variant is the adapter's own config type, with its own fields, defaults and checks
//! (see each adapter's `config` module); the tag `channel` names the adapter by its cargo
//! feature. Secrets (tokens, client secrets) are read from the file but never written back, and
//! never printed: `Debug` of every config is redacted.
//!
//! ```
//! # #[cfg(feature = "reverb")] {
//! let config: marketsync::ChannelConfig = serde_json::from_str(r#"{
//!     "channel": "reverb",
//!     "token": "my-personal-access-token",
//!     "default_currency": "USD"
//! }"#)?;
//! let channel = marketsync::channel_from_config(config)?;
//! assert_eq!(channel.kind(), marketsync::ChannelKind::Reverb);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use marketsync_core::{Channel, ChannelError};
use serde::Deserialize;

/// One adapter's configuration, tagged by the adapter's name (`"channel": "reverb"`). Only the
/// adapters whose cargo feature is on are variants.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "channel")]
#[non_exhaustive]
pub enum ChannelConfig {
    /// `"channel": "channeladvisor"` — a ChannelAdvisor feed, or OfferUp through ChannelAdvisor.
    #[cfg(feature = "channeladvisor")]
    #[cfg_attr(docsrs, doc(cfg(feature = "channeladvisor")))]
    #[serde(rename = "channeladvisor")]
    ChannelAdvisor(marketsync_channeladvisor::ChannelAdvisorConfig),
    /// `"channel": "reverb"`.
    #[cfg(feature = "reverb")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reverb")))]
    #[serde(rename = "reverb")]
    Reverb(marketsync_reverb::ReverbConfig),
    /// `"channel": "allegro"`.
    #[cfg(feature = "allegro")]
    #[cfg_attr(docsrs, doc(cfg(feature = "allegro")))]
    #[serde(rename = "allegro")]
    Allegro(marketsync_allegro::AllegroConfig),
    /// `"channel": "tradera"`.
    #[cfg(feature = "tradera")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tradera")))]
    #[serde(rename = "tradera")]
    Tradera(marketsync_tradera::TraderaConfig),
}

/// The adapter a config describes, ready for
/// [`Engine::create_integration`](crate::Engine::create_integration). Fails as the adapter's
/// own constructor does (an invalid base URL, a missing field, an unusable HTTP client), with
/// an `Invalid` [`ChannelError`].
pub fn channel_from_config(config: ChannelConfig) -> Result<Arc<dyn Channel>, ChannelError> {
    Ok(match config {
        #[cfg(feature = "channeladvisor")]
        ChannelConfig::ChannelAdvisor(c) => {
            Arc::new(marketsync_channeladvisor::ChannelAdvisorChannel::new(c)?)
        }
        #[cfg(feature = "reverb")]
        ChannelConfig::Reverb(c) => Arc::new(marketsync_reverb::ReverbChannel::new(c)?),
        #[cfg(feature = "allegro")]
        ChannelConfig::Allegro(c) => Arc::new(marketsync_allegro::AllegroChannel::new(c)?),
        #[cfg(feature = "tradera")]
        ChannelConfig::Tradera(c) => Arc::new(marketsync_tradera::TraderaChannel::new(c)?),
    })
}
