//! `kafka-lab tls …`: the certificate commands a learner runs.

use std::path::PathBuf;

use crate::{
    CertificateAuthority, CertificateRequest, IssuedFiles, KeyAlgorithm, Result, SubjectAltName,
    TlsError, Usage,
};

/// Create and check the lab's certificates: a CA, broker certificates and client certificates.
///
/// Every command writes into --dir (default ./tls/out): `ca.crt`/`ca.key`, and for each
/// certificate `<name>.crt`, `<name>.key` (PKCS#8 PEM), `<name>-chain.pem` (certificate then
/// CA) and `<name>.p12` (PKCS#12 with --password, accepted by Java and librdkafka). Existing
/// files that are still valid are kept; --force replaces them.
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

/// Options shared by every generating command.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputOptions {
    /// Directory holding the CA and the issued files.
    #[arg(long, default_value = "tls/out", env = "KAFKA_LAB_TLS_DIR")]
    pub dir: PathBuf,
    /// Password of the PKCS#12 files (`ssl.keystore.password` for clients and brokers).
    #[arg(long, default_value = "changeit", env = "KAFKA_LAB_TLS_PASSWORD")]
    pub password: String,
    /// Key algorithm of new keys.
    #[arg(long, value_enum, default_value_t = KeyAlgorithm::Rsa2048)]
    pub key_algorithm: KeyAlgorithm,
    /// Validity of new certificates, in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Replace existing files even when they are still valid.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum TlsCommand {
    /// Everything a lab needs at once: the CA, one broker certificate and client certificates.
    Init {
        #[command(flatten)]
        output: OutputOptions,
        /// Host names clients dial to reach the broker (SAN DNS entries).
        #[arg(long = "dns", default_values_t = vec!["localhost".to_string()])]
        dns: Vec<String>,
        /// Addresses clients dial to reach the broker (SAN IP entries).
        #[arg(long = "ip", default_values_t = vec!["127.0.0.1".to_string()])]
        ips: Vec<String>,
        /// A client certificate per name; its subject `CN=<name>,O=kafka-lab` is the principal.
        #[arg(long = "client", default_values_t = vec!["admin".to_string(), "alice".to_string(), "bob".to_string()])]
        clients: Vec<String>,
    },
    /// Create the certificate authority (kept when it exists and is valid).
    Ca {
        #[command(flatten)]
        output: OutputOptions,
        /// The CA's common name.
        #[arg(long, default_value = "kafka-lab CA")]
        common_name: String,
    },
    /// Issue a broker certificate whose SANs cover every name clients dial.
    Broker {
        #[command(flatten)]
        output: OutputOptions,
        /// File stem and default CN.
        #[arg(long, default_value = "broker")]
        name: String,
        /// SAN DNS names, e.g. --dns localhost --dns broker-1.kafka.lab.
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// SAN IP addresses, e.g. --ip 127.0.0.1.
        #[arg(long = "ip")]
        ips: Vec<String>,
    },
    /// Issue a client certificate; with `ssl.client.auth=required` its subject is the principal.
    Client {
        #[command(flatten)]
        output: OutputOptions,
        /// File stem and CN, e.g. `alice` gives principal `User:CN=alice,O=kafka-lab`.
        #[arg(long)]
        name: String,
        /// Optional organizational unit, added to the subject.
        #[arg(long)]
        ou: Option<String>,
    },
    /// Check a certificate: chains to the CA, unexpired, matches its key, covers a host.
    Verify {
        /// Certificate to check.
        #[arg(long)]
        cert: PathBuf,
        /// Its private key, to check they belong together.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The CA certificate it must chain to.
        #[arg(long, default_value = "tls/out/ca.crt")]
        ca: PathBuf,
        /// A host name or address clients dial; the certificate's SANs must cover it.
        #[arg(long)]
        host: Option<String>,
    },
}

impl OutputOptions {
    /// Refuses options that would write unusable files, before anything is written.
    fn check(&self) -> Result<()> {
        if self.days == 0 {
            return Err(TlsError::Invalid(
                "--days must be at least 1: a certificate valid for 0 days has expired when it \
                 is issued"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Runs one `kafka-lab tls` command, printing what it wrote or checked.
pub fn run(args: TlsArgs) -> Result<()> {
    if let TlsCommand::Init { output, .. }
    | TlsCommand::Ca { output, .. }
    | TlsCommand::Broker { output, .. }
    | TlsCommand::Client { output, .. } = &args.command
    {
        output.check()?;
    }
    match args.command {
        TlsCommand::Init { output, dns, ips, clients } => {
            let ca = ca(&output, "kafka-lab CA")?;
            let names = dns.iter().chain(&ips).map(|n| SubjectAltName::parse(n)).collect();
            issue(&ca, &output, "broker", "broker", None, names, Usage::Server)?;
            for client in &clients {
                issue(&ca, &output, client, client, None, Vec::new(), Usage::Client)?;
            }
            print_recipe(&output);
            Ok(())
        }
        TlsCommand::Ca { output, common_name } => ca(&output, &common_name).map(drop),
        TlsCommand::Broker { output, name, dns, ips } => {
            let ca = CertificateAuthority::load(&output.dir)?;
            let names = dns.iter().chain(&ips).map(|n| SubjectAltName::parse(n)).collect();
            issue(&ca, &output, &name, &name, None, names, Usage::Server).map(drop)
        }
        TlsCommand::Client { output, name, ou } => {
            let ca = CertificateAuthority::load(&output.dir)?;
            issue(&ca, &output, &name, &name, ou, Vec::new(), Usage::Client).map(drop)
        }
        TlsCommand::Verify { cert, key, ca, host } => {
            crate::verify(&cert, key.as_deref(), &ca, host.as_deref())?;
            println!(
                "ok: {} chains to {}{}",
                cert.display(),
                ca.display(),
                match &host {
                    Some(host) => format!(" and covers {host}"),
                    None => String::new(),
                }
            );
            Ok(())
        }
    }
}

fn ca(output: &OutputOptions, common_name: &str) -> Result<CertificateAuthority> {
    let (ca, created) = CertificateAuthority::load_or_create(
        &output.dir,
        common_name,
        output.key_algorithm,
        output.days.max(3650),
        output.force,
    )?;
    let verb = if created { "created" } else { "kept" };
    println!("{verb} {}", output.dir.join("ca.crt").display());
    Ok(ca)
}

fn issue(
    ca: &CertificateAuthority,
    output: &OutputOptions,
    name: &str,
    common_name: &str,
    organizational_unit: Option<String>,
    subject_alt_names: Vec<SubjectAltName>,
    usage: Usage,
) -> Result<IssuedFiles> {
    let request = CertificateRequest {
        name: name.to_string(),
        common_name: common_name.to_string(),
        organizational_unit,
        subject_alt_names,
        usage,
        key_algorithm: output.key_algorithm,
        valid_days: output.days,
    };
    let files = ca.issue(&output.dir, &request, &output.password, output.force)?;
    let verb = if files.created { "created" } else { "kept" };
    println!(
        "{verb} {} ({}, {}, {})",
        files.cert.display(),
        files.key.display(),
        files.chain.display(),
        files.pkcs12.display()
    );
    Ok(files)
}

fn print_recipe(output: &OutputOptions) {
    let dir = output.dir.display();
    println!(
        "\nBroker (kafka-lab or Apache Kafka), PEM files, no JKS:\n  \
         ssl.keystore.type: PKCS12\n  ssl.keystore.location: {dir}/broker.p12\n  \
         ssl.keystore.password: <password>\n  ssl.truststore.type: PEM\n  \
         ssl.truststore.location: {dir}/ca.crt\n\
         librdkafka / kcat client:\n  security.protocol=SSL ssl.ca.location={dir}/ca.crt \
         ssl.certificate.location={dir}/alice.crt ssl.key.location={dir}/alice.key\n\
         Java client (PKCS#12 keystore, PEM truststore):\n  security.protocol=SSL \
         ssl.keystore.type=PKCS12 ssl.keystore.location={dir}/alice.p12 \
         ssl.keystore.password=<password> ssl.truststore.type=PEM \
         ssl.truststore.location={dir}/ca.crt"
    );
}
