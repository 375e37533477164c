#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![recursion_limit = "256"]

pub mod allegro;
pub mod channeladvisor;
mod handle;
mod marketplace;
pub mod options;
pub mod reverb;
mod server;
pub mod tradera;
mod util;

pub use allegro::{AllegroHarness, AllegroSandbox};
pub use channeladvisor::{ChannelAdvisorHarness, ChannelAdvisorSandbox};
pub use marketplace::{Marketplace, RateLimits, Request, Response, Route, Throttle};
pub use reverb::{ReverbHarness, ReverbSandbox};
pub use server::{Counters, Fault, Knobs, LoggedRequest, Outcome, Sandbox};
pub use tradera::{TraderaHarness, TraderaSandbox};
pub use util::DetRng;
