package forge.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.dev.DevStack;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.serviceclient.WorkflowServiceStubs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The embedded default for tests: the real Temporal test server on a port and S3Proxy on loopback, with the
 * same classes {@code ./forge dev} uses. Workers run in this JVM or as separate processes.
 */
final class TestStack implements AutoCloseable {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    final DevStack dev;
    final S3Settings s3;
    final WorkerSettings settings;
    final S3Storage storage;
    private final WorkflowServiceStubs stubs;
    final WorkflowClient client;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    TestStack(Path dir) {
        this(dir, s -> s);
    }

    /** @param configure adjusts the settings of this JVM's client and in-process workers (e.g. encryption keys) */
    TestStack(Path dir, UnaryOperator<WorkerSettings> configure) {
        dev = DevStack.start(dir.resolve("s3"), 0, 0);
        s3 = dev.s3Settings();
        settings = configure.apply(WorkerSettings.fromEnvironment(Map.of())
                .withTemporalAddress(dev.temporalAddress()).withS3(s3).withMetricsPort(-1)
                .withHeartbeatInterval(Duration.ofSeconds(1)));
        storage = new S3Storage(s3);
        stubs = forge.worker.TemporalConnection.stubs(settings, null);
        client = forge.worker.TemporalConnection.client(stubs, settings);
    }

    WorkerProcess inProcessWorker(Role role) {
        WorkerProcess p = WorkerProcess.start(settings, role, List.of(TaskQueues.GPU));
        closeables.add(p);
        return p;
    }

    /** A worker in its own JVM, as on a real pod: killable with SIGKILL. */
    Process externalWorker(Role role, Path logFile, String... extraArgs) {
        return externalWorker(role, logFile, dev.temporalAddress(), Map.of(), extraArgs);
    }

    /**
     * @param address Temporal as this worker reaches it (a TLS front, say)
     * @param env     added to, or replacing, the worker's default environment (S3, credentials, keys)
     */
    Process externalWorker(Role role, Path logFile, String address, Map<String, String> env, String... extraArgs) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // The shipped logging (not the tests'): WARN on the console, every event as JSON in forge.log.
                "-Xmx1g", "-Dlogback.configurationFile=logback.xml", "-Dforge.console.level=WARN",
                "-Dforge.log.dir=" + logFile.getParent(),
                "-cp", System.getProperty("java.class.path"),
                "forge.cli.Forge", "worker", "--role", role.name().toLowerCase(),
                "--address", address, "--threads", "2", "--metrics-port", "-1"));
        cmd.addAll(List.of(extraArgs));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        Map<String, String> workerEnv = pb.environment();
        workerEnv.put("FORGE_S3_ENDPOINT", dev.s3Endpoint());
        workerEnv.put("FORGE_S3_BUCKET", s3.bucket());
        workerEnv.put("FORGE_S3_PREFIX", s3.prefix());
        workerEnv.put("FORGE_HEARTBEAT_INTERVAL_SECONDS", "1");
        workerEnv.put("GOMP_SPINCOUNT", "10000");
        workerEnv.put("MALLOC_MMAP_THRESHOLD_", "33554432");
        workerEnv.put("MALLOC_TRIM_THRESHOLD_", "268435456");
        workerEnv.put("AWS_ACCESS_KEY_ID", DevStack.ACCESS_KEY);
        workerEnv.put("AWS_SECRET_ACCESS_KEY", DevStack.SECRET_KEY);
        workerEnv.putAll(env);
        try {
            Process p = pb.start();
            closeables.add(() -> {
                p.destroyForcibly();
                p.waitFor();
            });
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    WorkflowStub start(String runId, JsonNode spec) {
        TrainingPipeline pipeline = client.newWorkflowStub(TrainingPipeline.class, WorkflowOptions.newBuilder()
                .setWorkflowId(runId).setTaskQueue(TaskQueues.CONTROL)
                .setWorkflowExecutionTimeout(Duration.ofMinutes(10)).build());
        WorkflowClient.start(pipeline::run, spec, null);
        return client.newUntypedWorkflowStub(runId);
    }

    TrainingPipeline pipeline(String runId) {
        return client.newWorkflowStub(TrainingPipeline.class, runId);
    }

    /** A tiny but complete pretraining spec: dropout and gradient accumulation on, so resume must restore both. */
    static ObjectNode tinySpec(int maxSteps, int checkpointEvery) {
        try {
            return (ObjectNode) YAML.readTree("""
                    name: tiny
                    stages:
                      pretrain:
                        heartbeat_timeout_seconds: 5
                        seed: 42
                        model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                        tokenizer: {type: char}
                        data:
                          sources: [{path: "demo:pretrain?seed=3&docs=1500"}]
                        train: {max_steps: %d, batch_size: 8, grad_accum_steps: 2, warmup_steps: 20}
                        eval: {interval: 100, batches: 4}
                        checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                        sample: {count: 1, max_new_tokens: 40}
                    """.formatted(maxSteps, checkpointEvery));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Pretraining, SFT, a reward model and PPO, tiny: a 64-token context holds most demo questions with their answers,
     * and each stage reads the previous stage's output through the workflow.
     */
    static ObjectNode tinyPipeline(int pretrainSteps, int sftSteps, int checkpointEvery) {
        ObjectNode spec = tinySpec(pretrainSteps, checkpointEvery);
        pretrain(spec).with("model").put("block_size", 64);
        try {
            spec.with("stages").set("sft", YAML.readTree("""
                    heartbeat_timeout_seconds: 5
                    seed: 43
                    data: {sources: [{path: "demo:sft?seed=3&count=400"}]}
                    train: {max_steps: %d, batch_size: 8, warmup_steps: 10}
                    eval: {interval: 100, batches: 2}
                    task_eval: {count: 4, max_new_tokens: 8}
                    checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                    sample: {count: 1, max_new_tokens: 8}
                    """.formatted(sftSteps, checkpointEvery)));
            spec.with("stages").set("reward", YAML.readTree("""
                    heartbeat_timeout_seconds: 5
                    seed: 44
                    data: {sources: [{path: "demo:prefs?seed=3&count=300"}, {path: "demo:ranked?seed=3&count=50&k=3"}]}
                    train: {max_steps: %d, batch_size: 4, warmup_steps: 10}
                    eval: {interval: 100, batches: 2}
                    checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                    sample: {count: 1}
                    """.formatted(sftSteps, checkpointEvery)));
            // A PPO iteration is a rollout and its updates: a fifth as many as the other stages' steps.
            spec.with("stages").set("ppo", YAML.readTree("""
                    heartbeat_timeout_seconds: 5
                    seed: 45
                    data:
                      sources: [{path: "demo:prompts?seed=3&count=200"}]
                      validation: [{path: "demo:prompts?seed=3&count=8&split=held_out"}]
                    rollout: {max_new_tokens: 8}
                    ppo: {epochs: 1, mini_batches: 2}
                    train: {max_steps: %d, batch_size: 8, learning_rate: 1.0e-4}
                    eval: {interval: 100, prompts: 8}
                    checkpoint: {interval_steps: %d, interval_seconds: 3600, keep_last: 2}
                    sample: {count: 1}
                    """.formatted(Math.max(2, sftSteps / 5), Math.max(1, checkpointEvery / 5))));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return spec;
    }

    static ObjectNode pretrain(ObjectNode spec) {
        return (ObjectNode) spec.get("stages").get("pretrain");
    }

    @Override
    public void close() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        stubs.shutdown();
        storage.close();
        dev.close();
    }
}
