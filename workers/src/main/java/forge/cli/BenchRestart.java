package forge.cli;

import forge.bench.BenchSection;
import forge.bench.RestartBench;
import forge.errors.BadInputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code forge bench restart}: see {@link RestartBench}. */
@Command(name = "restart", description = "SIGKILLs a GPU worker process after a checkpoint, starts a new one and "
        + "times how long until training continues. Starts its own Temporal test server and S3. Prints a markdown "
        + "table.")
final class BenchRestart implements Callable<Integer> {
    @Option(names = "--kills", defaultValue = "3",
            description = "workers killed, median reported (default ${DEFAULT-VALUE})")
    int kills;

    @Option(names = "--heartbeat-timeout", defaultValue = "10",
            description = "the stage's heartbeat_timeout_seconds (default ${DEFAULT-VALUE})")
    int heartbeatTimeout;

    @Option(names = "--steps-past", defaultValue = "10",
            description = "steps trained past the checkpoint before the kill (default ${DEFAULT-VALUE})")
    int stepsPast;

    @Option(names = "--checkpoint-every", defaultValue = "50",
            description = "checkpoint interval in steps (default ${DEFAULT-VALUE})")
    int checkpointEvery;

    @Option(names = "--dir", description = "folder for S3 objects and worker logs, kept afterwards (default: a temp "
            + "folder, deleted)")
    Path dir;

    @Override
    public Integer call() {
        RestartBench.Settings settings;
        try {
            settings = new RestartBench.Settings(kills, heartbeatTimeout, stepsPast, checkpointEvery, dir);
        } catch (BadInputException e) {
            throw new BadInputException(e.getMessage().replace("bench.kills", "--kills")
                    .replace("bench.heartbeat_timeout", "--heartbeat-timeout")
                    .replace("bench.steps_past", "--steps-past"), e);
        }
        long t0 = System.nanoTime();
        BenchSection section = RestartBench.run(settings, line ->
                System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
        System.out.println();
        System.out.print(section.markdown());
        return 0;
    }
}
