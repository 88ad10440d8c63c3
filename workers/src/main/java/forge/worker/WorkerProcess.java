package forge.worker;

import forge.metrics.MetricsServer;
import forge.storage.S3Storage;
import io.temporal.client.WorkflowClient;
import io.temporal.serviceclient.WorkflowServiceStubs;

import java.util.List;

/**
 * Everything one worker process holds: metrics endpoint, Temporal connection, S3 storage and the polling workers.
 * The same for a GPU pod, the control worker, the dev stack and the demo; only settings differ.
 */
public final class WorkerProcess implements AutoCloseable {
    private final MetricsServer metrics;
    private final WorkflowServiceStubs stubs;
    private final WorkflowClient client;
    private final S3Storage storage;
    private final ForgeWorkers workers;

    private WorkerProcess(MetricsServer metrics, WorkflowServiceStubs stubs, WorkflowClient client, S3Storage storage,
                          ForgeWorkers workers) {
        this.metrics = metrics;
        this.stubs = stubs;
        this.client = client;
        this.storage = storage;
        this.workers = workers;
    }

    /** @param metricsPort 0 picks a free port; negative serves no metrics */
    public static WorkerProcess start(WorkerSettings settings, Role role, List<String> gpuQueues) {
        if (role.gpu()) {
            ForgeWorkers.requireOneSlot(settings.gpuSlots()); // before any port or connection is opened
        }
        configureTorchThreads(settings.torchThreads());
        MetricsServer metrics = settings.metricsPort() >= 0 ? MetricsServer.start("0.0.0.0", settings.metricsPort()) : null;
        WorkflowServiceStubs stubs = TemporalConnection.stubs(settings, metrics == null ? null : metrics.registry());
        WorkflowClient client = TemporalConnection.client(stubs, settings);
        S3Storage storage = new S3Storage(settings.s3());
        ForgeWorkers workers = ForgeWorkers.start(role, client, storage, settings, gpuQueues);
        return new WorkerProcess(metrics, stubs, client, storage, workers);
    }

    /**
     * Bit-exact resume needs the same intra-op thread count before and after a crash, so it is a worker setting;
     * DJL reads these properties once, when the engine starts.
     */
    public static void configureTorchThreads(int threads) {
        if (threads > 0) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
    }

    public WorkflowClient client() {
        return client;
    }

    public S3Storage storage() {
        return storage;
    }

    public String metricsAddress() {
        return metrics == null ? "(off)" : metrics.address();
    }

    @Override
    public void close() {
        workers.close();
        stubs.shutdown();
        storage.close();
        if (metrics != null) {
            metrics.close();
        }
    }
}
