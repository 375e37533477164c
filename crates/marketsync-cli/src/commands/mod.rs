//! One module per command group; each exposes `pub async fn run(ctx: &Context, args: <Group>Args,
//! out: Output) -> Result<(), CliError>`.

pub mod audit;
pub mod integrations;
pub mod listings;
pub mod mappings;
pub mod notifications;
pub mod orders;
pub mod outbox;
