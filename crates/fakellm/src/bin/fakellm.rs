//! `fakellm`: the fake LLM provider as a standalone process, for tests that cannot embed it
//! (browser end-to-end tests drive the real server binary against it).
//!
//! Prints the bound address as the first line of stdout, then serves the scripted turns in order
//! and the default text after them, until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use agentry_fakellm::{FakeLlm, Turn};
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "A scripted fake LLM provider speaking OpenAI Chat Completions and Anthropic Messages"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// JSON file holding a list of turns, e.g. `[{"steps": [{"type": "text", "text": "Hi"}]}]`.
    #[arg(long)]
    script: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let turns: Vec<Turn> = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("invalid script {}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let fake = FakeLlm::bind(args.listen).await?;
    fake.push_turns(turns);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", fake.addr())?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "fakellm: OpenAI base URL {}, Anthropic base URL {}",
        fake.openai_base_url(),
        fake.anthropic_base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
