use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = vodgate::cli::Cli::parse();
    vodgate::telemetry::init();
    match vodgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vodgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
