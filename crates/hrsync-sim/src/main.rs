//! `hrsync-sim`: the target simulator alone, for local trials and for tests that run it
//! as a process (`hrsync simulator` is the same, inside the hrsync binary). Besides where
//! to listen, the SuperOffice knobs that change what a client may do are settable here
//! (flags or `HRSYNC_SIM_…` variables); every other setting keeps its default.

use clap::{ArgAction, Parser};
use hrsync_sim::{serve, Simulator, SimulatorConfig};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "hrsync-sim", version, about = "The target simulator of hrsync")]
struct Cli {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
    /// SuperOffice "Our companies": contact ids whose persons may become users.
    #[arg(
        long,
        env = "HRSYNC_SIM_SUPEROFFICE_OWNER_CONTACTS",
        value_delimiter = ',',
        default_value = "1"
    )]
    superoffice_owner_contacts: Vec<i64>,
    /// Whether the SuperOffice User agent is available (`false`: as SuperOffice Online
    /// for partner apps, user creation and `Agents/User/*` answer 403).
    #[arg(
        long,
        env = "HRSYNC_SIM_SUPEROFFICE_USER_AGENT_ALLOWED",
        default_value_t = true,
        action = ArgAction::Set
    )]
    superoffice_user_agent_allowed: bool,
}

impl Cli {
    fn config(&self) -> SimulatorConfig {
        SimulatorConfig {
            superoffice_owner_contacts: self.superoffice_owner_contacts.clone(),
            superoffice_user_agent_allowed: self.superoffice_user_agent_allowed,
            ..SimulatorConfig::for_address(self.listen)
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    eprintln!("hrsync-sim listening on {}", cli.listen);
    serve(listener, Simulator::new(cli.config()), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
