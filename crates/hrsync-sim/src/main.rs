//! `hrsync-sim`: the target simulator alone, for local trials and for tests that run it
//! as a process (`hrsync simulator` is the same, inside the hrsync binary).

use clap::Parser;
use hrsync_sim::{serve, Simulator, SimulatorConfig};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "hrsync-sim", version, about = "The target simulator of hrsync")]
struct Cli {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    eprintln!("hrsync-sim listening on {}", cli.listen);
    serve(
        listener,
        Simulator::new(SimulatorConfig::for_address(cli.listen)),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
}
