package forge.cli;

import forge.dev.DevStack;
import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.TaskQueues;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "dev", description = "Run the embedded Temporal server, S3 endpoint and workers until Ctrl-C.")
final class DevCommand implements Callable<Integer> {
    @Option(names = "--temporal-port", defaultValue = "7233")
    int temporalPort;

    @Option(names = "--s3-port", defaultValue = "9000")
    int s3Port;

    @Option(names = "--metrics-port", defaultValue = "9464")
    int metricsPort;

    @Option(names = "--data-dir", defaultValue = ".forge", description = "where the S3 objects live (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--no-workers", description = "serve Temporal and S3 only; start workers separately")
    boolean noWorkers;

    @Override
    public Integer call() throws Exception {
        DevStack stack = DevStack.start(dataDir.resolve("s3"), temporalPort, s3Port);
        WorkerSettings settings = WorkerSettings.fromEnvironment(System.getenv())
                .withTemporalAddress(stack.temporalAddress()).withS3(stack.s3Settings()).withMetricsPort(metricsPort);
        WorkerProcess workers = noWorkers ? null : WorkerProcess.start(settings, Role.ALL, List.of(TaskQueues.GPU));
        String env = String.join("\n",
                "export FORGE_TEMPORAL_ADDRESS=" + stack.temporalAddress(),
                "export FORGE_S3_ENDPOINT=" + stack.s3Endpoint(),
                "export FORGE_S3_BUCKET=" + DevStack.BUCKET,
                "export FORGE_S3_PREFIX=" + DevStack.PREFIX,
                "export AWS_ACCESS_KEY_ID=" + DevStack.ACCESS_KEY,
                "export AWS_SECRET_ACCESS_KEY=" + DevStack.SECRET_KEY,
                "export AWS_REGION=us-east-1", "");
        Files.createDirectories(dataDir);
        Files.writeString(dataDir.resolve("dev.env"), env);
        System.out.println("LLM Forge dev stack is up.");
        System.out.println("  Temporal   " + stack.temporalAddress() + "  (namespace default; temporal CLI: --address " + stack.temporalAddress() + ")");
        System.out.println("  S3         " + stack.s3Endpoint() + "  bucket " + DevStack.BUCKET + "  (objects under " + dataDir.resolve("s3").toAbsolutePath() + ")");
        System.out.println("  metrics    " + (workers == null ? "(no workers)" : workers.metricsAddress()));
        System.out.println("  workers    " + (workers == null ? "none (--no-workers)" : "control + gpu, in this process"));
        System.out.println("For other shells and worker processes:  source " + dataDir.resolve("dev.env"));
        System.out.println("Then:  ./forge start config/demo.yaml   |   ./forge worker --role gpu");
        System.out.println("Ctrl-C stops everything.");
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (workers != null) {
                workers.close();
            }
            stack.close();
            stopped.countDown();
        }, "forge-dev-shutdown"));
        stopped.await();
        return 0;
    }
}
