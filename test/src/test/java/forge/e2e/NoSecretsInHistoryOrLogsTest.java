package forge.e2e;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import forge.codec.CodecKeys;
import forge.codec.EncryptionCodec;
import forge.storage.EmbeddedS3;
import forge.worker.Role;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineState;
import io.temporal.api.common.v1.Payload;
import io.temporal.api.enums.v1.EventType;
import io.temporal.api.history.v1.HistoryEvent;
import io.temporal.client.WorkflowFailedException;
import io.temporal.common.WorkflowExecutionHistory;
import io.temporal.failure.ApplicationFailure;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker configured as in production — S3 credentials from the AWS default chain, a Temporal API key over TLS,
 * payload encryption — runs a tiny pipeline started by the CLI. Then the run's history, as anyone with read access
 * to the namespace can export it, and every log the worker wrote are searched: no secret may appear, and neither
 * may the spec's content (the stage name, the data source) or a failure message in clear text.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NoSecretsInHistoryOrLogsTest {
    static final String S3_ACCESS_KEY = "AKIAE2ETESTDONOTLEAK";
    static final String S3_SECRET_KEY = "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";
    static final String API_KEY = "e2e-temporal-api-key-do-not-leak-8d3f71";
    static final byte[] CODEC_KEY = "e2e-codec-key-do-not-leak-0x5eed".getBytes(StandardCharsets.US_ASCII);
    static final String CODEC_KEY_B64 = Base64.getEncoder().encodeToString(CODEC_KEY);
    static final String KEY_ID = "e2e-2026";

    @TempDir
    static Path dir;
    TestStack stack;
    EmbeddedS3 s3;
    TlsFront front;
    Path logDir;

    @BeforeAll
    void up() throws Exception {
        assertEquals(32, CODEC_KEY.length);
        CodecKeys keys = CodecKeys.of(KEY_ID, CODEC_KEY);
        stack = new TestStack(dir, s -> s.withCodecKeys(keys));
        // An S3 of its own that accepts only the recognisable credentials, so the run cannot finish unless the
        // worker found them where production workers do: the AWS default chain (here, its environment).
        s3 = EmbeddedS3.start(dir.resolve("s3-secret"), "127.0.0.1", 0, stack.s3.bucket(), S3_ACCESS_KEY, S3_SECRET_KEY);
        front = TlsFront.start(dir.resolve("tls"), Integer.parseInt(stack.dev.temporalAddress().split(":")[1]));
        logDir = Files.createDirectories(dir.resolve("worker-logs"));
        stack.externalWorker(Role.ALL, logDir.resolve("worker.out"), front.address(), workerEnv());
    }

    private Map<String, String> workerEnv() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("FORGE_S3_ENDPOINT", s3.endpoint().toString());
        env.put("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY);
        env.put("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY);
        env.put("FORGE_TEMPORAL_API_KEY", API_KEY);
        env.put("FORGE_TLS_CA", front.caPem().toString());
        env.put("FORGE_CODEC_KEY", CODEC_KEY_B64);
        env.put("FORGE_CODEC_KEY_ID", KEY_ID);
        return env;
    }

    @AfterAll
    void down() throws Exception {
        stack.close();
        front.close();
        s3.close();
    }

    @Test
    void aCompletedRunLeavesNeitherSecretsNorPlainTextInItsHistoryOrLogs() throws Exception {
        String runId = "e2e-secrets";
        Path spec = dir.resolve("spec.json");
        new ObjectMapper().writeValue(spec.toFile(), TestStack.tinySpec(40, 20));
        String cliOutput = startWithTheCli(spec, runId);

        PipelineResult result = stack.client.newUntypedWorkflowStub(runId).getResult(3, TimeUnit.MINUTES,
                PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state(), "the run still completes with everything turned on");
        assertTrue(Files.exists(dir.resolve("s3-secret").resolve(stack.s3.bucket()).resolve(stack.s3.prefix())
                .resolve(runId).resolve("summary.json")), "the worker wrote to S3 with the credentials of its chain");

        WorkflowExecutionHistory history = stack.client.fetchHistory(runId);
        Files.writeString(dir.resolve(runId + ".history.json"), history.toJson(true));
        assertNoSecretIn("the exported history", history.toJson(true));
        assertNoSecretIn("the stored history", binary(history));

        List<Payload> payloads = payloadsOf(history);
        assertTrue(payloads.size() >= 4, "input, activity inputs and results, the result: " + payloads.size());
        for (Payload p : payloads) {
            assertTrue(EncryptionCodec.isEncrypted(p), "a payload in clear text: " + p);
            assertEquals(KEY_ID, p.getMetadataOrThrow(EncryptionCodec.METADATA_KEY_ID).toStringUtf8());
            String data = p.getData().toString(StandardCharsets.ISO_8859_1);
            for (String plain : List.of("pretrain", "demo:pretrain", "tiny", "COMPLETED")) {
                assertFalse(data.contains(plain), "'" + plain + "' in clear text in a payload");
            }
        }

        // Encrypted, not merely unreadable: the started event's input is the spec, the completed event's the result.
        EncryptionCodec codec = new EncryptionCodec(CodecKeys.of(KEY_ID, CODEC_KEY));
        HistoryEvent started = event(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
        Payload input = started.getWorkflowExecutionStartedEventAttributes().getInput().getPayloads(0);
        assertTrue(EncryptionCodec.isEncrypted(input));
        assertTrue(codec.decode(List.of(input)).get(0).getData().toStringUtf8().contains("demo:pretrain?seed=3&docs=1500"));
        assertTrue(started.getUserMetadata().hasSummary(), "the CLI gives the run a summary");
        assertTrue(codec.decode(List.of(started.getUserMetadata().getSummary())).get(0).getData().toStringUtf8()
                .contains("pretrain"), "the summary, which names the stages, is encrypted too");
        Payload output = event(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
                .getWorkflowExecutionCompletedEventAttributes().getResult().getPayloads(0);
        assertTrue(codec.decode(List.of(output)).get(0).getData().toStringUtf8().contains("\"runId\":\"" + runId + "\""));

        assertNoSecretIn("the CLI's output", cliOutput);
        assertLogsAreClean();
    }

    @Test
    void aFailedRunKeepsItsFailureMessageEncryptedButReadableToTheClient() throws Exception {
        String runId = "e2e-secrets-bad";
        ObjectNode spec = TestStack.tinySpec(20, 10);
        ((ObjectNode) TestStack.pretrain(spec).get("train")).put("learning_rte", 0.1);
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class,
                () -> stack.start(runId, spec).getResult(2, TimeUnit.MINUTES, PipelineResult.class));
        ApplicationFailure failure = (ApplicationFailure) e.getCause();
        assertTrue(failure.getOriginalMessage().contains("train.learning_rte"),
                "a client with the key reads the message: " + failure.getOriginalMessage());

        WorkflowExecutionHistory history = stack.client.fetchHistory(runId);
        for (String text : List.of(history.toJson(false), binary(history))) {
            assertFalse(text.contains("learning_rte"), "a failure message in clear text in the history");
            assertNoSecretIn("the failed run's history", text);
        }
        HistoryEvent failed = event(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
        assertEquals("Encoded failure", failed.getWorkflowExecutionFailedEventAttributes().getFailure().getMessage());
        assertLogsAreClean();
    }

    /** {@code ./forge watch} and {@code status} read heartbeats and query results, which are encrypted too. */
    @Test
    void aRunningEncryptedRunCanBeWatched() throws Exception {
        String runId = "e2e-secrets-watch";
        var run = stack.start(runId, TestStack.tinySpec(100_000, 100_000));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        long step = -1;
        while (step < 20) {
            assertTrue(System.nanoTime() < deadline, "no heartbeat past step 20 was read");
            Thread.sleep(200);
            step = Progress.heartbeatStep(stack.client, runId);
        }
        assertEquals(PipelineState.RUNNING, stack.pipeline(runId).status().state());
        run.cancel();
        assertThrows(Exception.class, () -> run.getResult(2, TimeUnit.MINUTES, PipelineResult.class));
        assertEquals(PipelineState.CANCELLED, stack.pipeline(runId).status().state());
        WorkflowExecutionHistory history = stack.client.fetchHistory(runId);
        assertNoSecretIn("the cancelled run's history", binary(history));
        payloadsOf(history).forEach(p -> assertTrue(EncryptionCodec.isEncrypted(p), "in clear text: " + p));
    }

    /** The way a user starts a run: the CLI in its own process, its key from the environment. */
    private String startWithTheCli(Path spec, String runId) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dforge.log.dir=" + logDir.resolve("cli"), "-cp", System.getProperty("java.class.path"),
                "forge.cli.Forge", "start", spec.toString(), "--run-id", runId, "--address", stack.dev.temporalAddress());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("FORGE_CODEC_KEY", CODEC_KEY_B64);
        pb.environment().put("FORGE_CODEC_KEY_ID", KEY_ID);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains(runId), out);
        return out;
    }

    private void assertLogsAreClean() throws Exception {
        List<Path> logs;
        try (Stream<Path> files = Files.walk(logDir)) {
            logs = files.filter(Files::isRegularFile).toList();
        }
        Path json = logDir.resolve("forge.log");
        assertTrue(logs.contains(json), "the worker writes its JSON log: " + logs);
        String events = Files.readString(json);
        assertTrue(events.contains("worker started") && events.contains("payload encryption=key " + KEY_ID),
                "the log being searched is the worker's: " + events.lines().limit(5).toList());
        for (Path log : logs) {
            assertNoSecretIn(log.toString(), new String(Files.readAllBytes(log), StandardCharsets.ISO_8859_1));
        }
    }

    private static void assertNoSecretIn(String where, String text) {
        Map<String, String> secrets = Map.of("the S3 secret key", S3_SECRET_KEY, "the S3 access key id", S3_ACCESS_KEY,
                "the Temporal API key", API_KEY, "the codec key", CODEC_KEY_B64,
                "the codec key's bytes", new String(CODEC_KEY, StandardCharsets.US_ASCII));
        secrets.forEach((what, secret) -> assertFalse(text.contains(secret), what + " appears in " + where));
    }

    /** Payload bytes as stored, where a plain-text search of the JSON (base64 there) would miss them. */
    private static String binary(WorkflowExecutionHistory history) {
        return history.getHistory().toByteString().toString(StandardCharsets.ISO_8859_1);
    }

    private static HistoryEvent event(WorkflowExecutionHistory history, EventType type) {
        return history.getEvents().stream().filter(e -> e.getEventType() == type).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type + " in the history"));
    }

    /** Every payload anywhere in the history: inputs, results, heartbeats, failures, summaries. */
    private static List<Payload> payloadsOf(WorkflowExecutionHistory history) {
        List<Payload> out = new ArrayList<>();
        collect(history.getHistory(), out);
        return out;
    }

    private static void collect(Message m, List<Payload> out) {
        if (m instanceof Payload p) {
            out.add(p);
            return;
        }
        // Workflow.getVersion's marker is the SDK's own bookkeeping (a change id and a number the workflow code
        // names), written in clear by design: no user data in it.
        if (m instanceof io.temporal.api.history.v1.MarkerRecordedEventAttributes marker
                && marker.getMarkerName().equals("Version")) {
            return;
        }
        // Search attributes are for the visibility store and no codec encodes them (Temporal's design): the pipeline
        // upserts only its state, stage name and step there (docs/durability.md), never a config or data value.
        if (m instanceof io.temporal.api.common.v1.SearchAttributes attributes) {
            assertTrue(Set.of("TemporalChangeVersion", "ForgeStage", "ForgeState", "ForgeStep")
                    .containsAll(attributes.getIndexedFieldsMap().keySet()), "search attributes: " + attributes);
            return;
        }
        for (Map.Entry<FieldDescriptor, Object> e : m.getAllFields().entrySet()) {
            if (e.getKey().getJavaType() != FieldDescriptor.JavaType.MESSAGE) {
                continue;
            }
            if (e.getKey().isRepeated()) {
                for (Object o : (List<?>) e.getValue()) {
                    collect((Message) o, out);
                }
            } else {
                collect((Message) e.getValue(), out);
            }
        }
    }
}
