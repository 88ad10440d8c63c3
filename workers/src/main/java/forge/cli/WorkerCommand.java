package forge.cli;

import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.TaskQueues;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "worker", description = "Run a worker process against a Temporal cluster (or the dev stack).")
final class WorkerCommand implements Callable<Integer> {
    @Mixin
    ConnectionOptions connection;

    @Option(names = "--role", defaultValue = "all", description = "gpu | control | all (default: ${DEFAULT-VALUE})")
    String role;

    @Option(names = "--threads", description = "torch intra-op threads (env FORGE_TORCH_THREADS; default: all cores)")
    Integer threads;

    @Option(names = "--slots", description = "stage activities run at once: only 1 is supported, run one worker process per device (env FORGE_GPU_SLOTS; default 1)")
    Integer slots;

    @Option(names = "--metrics-port", description = "Prometheus /metrics port, 0 = any, -1 = off (env FORGE_METRICS_PORT; default 9464)")
    Integer metricsPort;

    @Option(names = "--queue", description = "extra stage task queue to serve besides " + TaskQueues.GPU)
    List<String> extraQueues = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        Role r;
        try {
            r = Role.valueOf(role.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            System.err.println("error: --role must be gpu, control or all, got " + role);
            return Forge.EXIT_BAD_INPUT;
        }
        WorkerSettings s = connection.settings();
        if (threads != null) s = s.withTorchThreads(threads);
        if (metricsPort != null) s = s.withMetricsPort(metricsPort);
        if (slots != null) s = s.withGpuSlots(slots);
        List<String> queues = new ArrayList<>(List.of(TaskQueues.GPU));
        queues.addAll(extraQueues);
        CountDownLatch stopped = new CountDownLatch(1);
        WorkerProcess process = WorkerProcess.start(s, r, queues);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            process.close();
            stopped.countDown();
        }, "forge-worker-shutdown"));
        System.out.println("forge worker (" + r.name().toLowerCase(java.util.Locale.ROOT) + ") connected to "
                + s.temporalAddress() + " namespace " + s.namespace() + "; metrics " + process.metricsAddress());
        stopped.await();
        return 0;
    }
}
