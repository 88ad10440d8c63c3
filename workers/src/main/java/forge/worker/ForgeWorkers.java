package forge.worker;

import forge.activities.PipelineActivitiesImpl;
import forge.activities.StageActivitiesImpl;
import forge.activities.StageChecksImpl;
import forge.storage.S3Storage;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipelineImpl;
import io.temporal.client.WorkflowClient;
import io.temporal.worker.Worker;
import io.temporal.worker.WorkerFactory;
import io.temporal.worker.WorkerOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** Registers the workflow and activities a role serves, and starts polling. */
public final class ForgeWorkers implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ForgeWorkers.class);

    private final WorkerFactory factory;
    private final java.time.Duration shutdownGrace;

    private ForgeWorkers(WorkerFactory factory, java.time.Duration shutdownGrace) {
        this.factory = factory;
        this.shutdownGrace = shutdownGrace;
    }

    /**
     * @param gpuQueues the queues stage activities are taken from; {@code forge-gpu} unless a deployment routes
     *                  stages to pools of its own
     */
    public static ForgeWorkers start(Role role, WorkflowClient client, S3Storage storage, WorkerSettings settings,
                                     List<String> gpuQueues) {
        WorkerFactory factory = WorkerFactory.newInstance(client);
        if (role.control()) {
            Worker control = factory.newWorker(TaskQueues.CONTROL);
            control.registerWorkflowImplementationTypes(TrainingPipelineImpl.class);
            control.registerActivitiesImplementations(new PipelineActivitiesImpl(storage, settings.s3(), client));
        }
        if (role.gpu()) {
            WorkerOptions gpuOptions = WorkerOptions.newBuilder()
                    // One stage per device: a stage waits in the queue rather than oversubscribing a GPU.
                    .setMaxConcurrentActivityExecutionSize(settings.gpuSlots())
                    .setMaxHeartbeatThrottleInterval(settings.heartbeatInterval())
                    .setDefaultHeartbeatThrottleInterval(settings.heartbeatInterval())
                    .build();
            // The checks before a pipeline's first stage: a worker of their own with slots of its own, so a GPU
            // worker busy with another pipeline's stage still answers them (and so proves its queue has a worker).
            WorkerOptions checkOptions = WorkerOptions.newBuilder().setMaxConcurrentActivityExecutionSize(4).build();
            for (String queue : gpuQueues) {
                Worker gpu = factory.newWorker(queue, gpuOptions);
                gpu.registerActivitiesImplementations(new StageActivitiesImpl(storage, settings.s3(), client));
                factory.newWorker(TaskQueues.checks(queue), checkOptions)
                        .registerActivitiesImplementations(new StageChecksImpl(storage));
            }
        }
        factory.start();
        log.info("worker started: role={} temporal={} namespace={} queues={} payload encryption={}", role,
                settings.temporalAddress(), settings.namespace(), role.gpu() ? gpuQueues : List.of(TaskQueues.CONTROL),
                settings.codecKeys() == null ? "off" : "key " + settings.codecKeys().encryptionKeyId());
        return new ForgeWorkers(factory, settings.shutdownGrace());
    }

    /**
     * Graceful stop (SIGTERM, preemption): no new work is taken, and a running stage learns of the shutdown at its
     * next heartbeat, writes a checkpoint and stops; Temporal then retries it on another worker.
     */
    @Override
    public void close() {
        factory.shutdown();
        factory.awaitTermination(shutdownGrace.toMillis(), TimeUnit.MILLISECONDS);
    }
}
