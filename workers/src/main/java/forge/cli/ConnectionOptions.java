package forge.cli;

import forge.worker.WorkerSettings;
import picocli.CommandLine.Option;

/** Where Temporal is: flags override {@code FORGE_*} environment variables; the default is the dev stack. */
final class ConnectionOptions {
    @Option(names = "--address", description = "Temporal frontend host:port (env FORGE_TEMPORAL_ADDRESS; default 127.0.0.1:7233, the dev stack)")
    String address;

    @Option(names = "--namespace", description = "Temporal namespace (env FORGE_NAMESPACE; default 'default')")
    String namespace;

    WorkerSettings settings() {
        WorkerSettings s = WorkerSettings.fromEnvironment(System.getenv());
        if (address != null) {
            s = s.withTemporalAddress(address);
        }
        if (namespace != null) {
            s = s.withNamespace(namespace);
        }
        return s;
    }
}
