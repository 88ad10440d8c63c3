package forge.stage.sft;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.errors.BadInputException;
import forge.stage.TinyStages;
import forge.storage.EmbeddedS3;
import forge.storage.S3Storage;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainState;
import forge.train.TrainingMetrics;
import forge.train.TrainingProgress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SFT stage without Temporal: full, frozen, LoRA and packed fine-tuning; exact resume; bad parents. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class SftStageTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    static Path dir;
    TinyStages stages;
    EmbeddedS3 s3;
    S3Storage storage;
    String parent;

    @BeforeAll
    void up() throws Exception {
        stages = new TinyStages(dir);
        s3 = stages.s3;
        storage = stages.storage;
        parent = stages.pretrained(96, 40);
    }

    @AfterAll
    void down() {
        stages.close();
    }

    public static ObjectNode spec(String extra) throws Exception {
        return (ObjectNode) YAML.readTree("""
                seed: 9
                data: {sources: [{path: "demo:sft?seed=7&count=200"}]}
                train: {max_steps: 24, batch_size: 4, grad_accum_steps: 2, warmup_steps: 3}
                eval: {interval: 12, batches: 3}
                task_eval: {count: 6, max_new_tokens: 12}
                checkpoint: {interval_steps: 10, interval_seconds: 3600, keep_last: 2}
                sample: {count: 1, max_new_tokens: 12}
                """ + extra);
    }

    CheckpointStore store(String run, String stage) {
        return stages.store(run, stage);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control) {
        return run(spec, run, control, null, parent);
    }

    StageOutcome run(ObjectNode spec, String run, StageControl control, StageCache cache, String parentUri) {
        return new SftStage(SftConfig.parse(spec), parentUri, store(run, "sft"), storage,
                new TrainingMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), run, "sft"), cache)
                .run(control);
    }

    public static StageControl stopAt(long step) {
        AtomicLong seen = new AtomicLong();
        return new StageControl() {
            @Override
            public void progress(TrainingProgress p) {
                seen.set(p.step());
            }

            @Override
            public void milestone(TrainingProgress p) {}

            @Override
            public boolean stopRequested() {
                return seen.get() >= step;
            }
        };
    }

    /** Stops at step 13, resumes, and must end byte-identical to a run that never stopped. */
    void assertExactResume(ObjectNode spec, String name) {
        StageOutcome straight = run(spec, name + "-straight", StageControl.NONE);
        assertTrue(straight.completed());
        StageOutcome stopped = run(spec, name + "-resumed", stopAt(13));
        assertFalse(stopped.completed());
        assertEquals(13, stopped.step());
        StageOutcome resumed = run(spec, name + "-resumed", StageControl.NONE);
        assertEquals(1.0, resumed.metrics().get("resumes"));
        LoadedCheckpoint a = store(name + "-straight", "sft").loadFinal().orElseThrow();
        LoadedCheckpoint b = store(name + "-resumed", "sft").loadFinal().orElseThrow();
        assertArrayEquals(a.file("model.safetensors"), b.file("model.safetensors"));
        assertArrayEquals(a.file("optimizer.safetensors"), b.file("optimizer.safetensors"));
        assertEquals(straight.metrics().get("valLossEnd"), resumed.metrics().get("valLossEnd"));
        assertEquals(straight.metrics().get("taskAccuracyBefore"), resumed.metrics().get("taskAccuracyBefore"));
    }

    @Test
    void fullFineTuningLearnsTheFormatAndResumesExactly() throws Exception {
        ObjectNode spec = spec("");
        assertExactResume(spec, "full");
        StageOutcome out = run(spec, "full-straight", StageControl.NONE); // final/ exists: reported, not retrained
        Map<String, Double> m = out.metrics();
        assertTrue(m.get("valLossEnd") < m.get("valLossStart"), m.toString());
        assertTrue(m.get("valTokenAccuracyAfter") > m.get("valTokenAccuracyBefore"), m.toString());
        assertTrue(m.containsKey("taskAccuracyBefore") && m.containsKey("taskAccuracyAfter"), m.toString());
        assertEquals(1, out.samples().size());
        assertTrue(out.samples().get(0).startsWith("Q: "), out.samples().get(0));
        LoadedCheckpoint fin = store("full-straight", "sft").loadFinal().orElseThrow();
        TrainState state = TrainState.fromJson(fin.file("state.json"), "final");
        assertEquals(parent, state.parentCheckpoint(), "every checkpoint records its parent");
        assertEquals("full", state.config().get("method").asText(), "and the resolved config");
    }

    @Test
    void loraTrainsOnlyAdaptersResumesExactlyAndMergesIntoAPlainModel() throws Exception {
        ObjectNode spec = spec("method: lora\nlora: {rank: 4, alpha: 8, targets: [c_attn, c_fc]}\n");
        assertExactResume(spec, "lora");
        LoadedCheckpoint fin = store("lora-straight", "sft").loadFinal().orElseThrow();
        Map<String, HostTensor> merged = Safetensors.read(fin.file("model.safetensors"));
        assertTrue(merged.keySet().stream().noneMatch(k -> k.contains("lora_")), "the output is a plain GPT-2");
        Map<String, HostTensor> adapters = Safetensors.read(fin.file("adapter_model.safetensors"));
        assertEquals(2 * 2 * 2, adapters.size(), "A and B for two targets in two blocks");
        Map<String, HostTensor> base = parentWeights();
        assertArrayEquals(base.get("wte.weight").data(), merged.get("wte.weight").data(), "embeddings stay");
        assertFalse(java.util.Arrays.equals(base.get("h.0.attn.c_attn.weight").data(),
                merged.get("h.0.attn.c_attn.weight").data()), "adapted weights carry the merged update");
        StageOutcome out = run(spec, "lora-straight", StageControl.NONE);
        assertTrue(out.metrics().get("trainableParameters") < 0.2 * base.values().stream()
                .mapToLong(t -> t.data().length / 4).sum(), out.metrics().toString());
    }

    @Test
    void freezingBlocksKeepsThemAsThePretrainedModelHadThem() throws Exception {
        run(spec("freeze_blocks: 1\n"), "frozen", StageControl.NONE);
        Map<String, HostTensor> base = parentWeights();
        Map<String, HostTensor> tuned = Safetensors.read(store("frozen", "sft").loadFinal().orElseThrow()
                .file("model.safetensors"));
        for (String name : List.of("wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.bias")) {
            assertArrayEquals(base.get(name).data(), tuned.get(name).data(), name);
        }
        assertFalse(java.util.Arrays.equals(base.get("h.1.attn.c_attn.weight").data(),
                tuned.get("h.1.attn.c_attn.weight").data()));
    }

    @Test
    void packedRowsTrainAndResumeExactly() throws Exception {
        ObjectNode spec = spec("");
        ((ObjectNode) spec.get("data")).put("pack", true);
        assertExactResume(spec, "packed");
    }

    @Test
    void activationCheckpointingOnPackedRowsResumesExactlyAndLearnsWhatThePlainRunDoes() throws Exception {
        ObjectNode spec = spec("");
        ((ObjectNode) spec.get("data")).put("pack", true);
        ((ObjectNode) spec.get("train")).put("activation_checkpointing", true);
        assertExactResume(spec, "checkpointed");
        ObjectNode plain = spec("");
        ((ObjectNode) plain.get("data")).put("pack", true);
        double a = run(plain, "checkpointed-plain", StageControl.NONE).metrics().get("valLossEnd");
        // Finished in assertExactResume: this returns its recorded outcome.
        double b = run(spec, "checkpointed-straight", StageControl.NONE).metrics().get("valLossEnd");
        // The same gradients up to the tied embedding's summation order (CheckpointingTest).
        assertEquals(a, b, 1e-4 * a);
    }

    @Test
    void aFinishedStageIsReusedOnlyForTheSameParent() throws Exception {
        StageCache cache = new StageCache(storage, s3.settings("runs").root().resolve("_cache"));
        ObjectNode spec = spec("");
        spec.with("train").put("max_steps", 4);
        assertEquals(0.0, run(spec, "cache-1", StageControl.NONE, cache, parent).metrics().get("cached"));
        assertEquals(1.0, run(spec, "cache-2", StageControl.NONE, cache, parent).metrics().get("cached"));
        String otherParent = copyOfParent("other-parent", files -> files); // same bytes, another place: same key
        assertEquals(1.0, run(spec, "cache-3", StageControl.NONE, cache, otherParent).metrics().get("cached"));
        String retrained = copyOfParent("retrained-parent", files -> replace(files, "model.safetensors",
                scaled(files.get("model.safetensors"))));
        assertEquals(0.0, run(spec, "cache-4", StageControl.NONE, cache, retrained).metrics().get("cached"));
    }

    @Test
    void badConfigsNameTheirField() throws Exception {
        assertField("lora.rank", spec("method: lora\nlora: {rank: 0}\n"));
        assertField("lora", spec("lora: {rank: 4}\n"));
        assertField("freeze_blocks", spec("method: lora\nfreeze_blocks: 1\n"));
        assertField("method", spec("method: qlora\n"));
        assertField("data.truncation", spec("data: {sources: [{path: \"demo:sft\"}], truncation: chop}\n"));
        assertField("lr", spec("lr: 0.1\n"));
        BadInputException noParent = assertThrows(BadInputException.class,
                () -> new SftStage(SftConfig.parse(spec("")), null, store("x", "sft"), storage, null, null));
        assertTrue(noParent.getMessage().startsWith("init_from"), noParent.getMessage());
        BadInputException tooMany = assertThrows(BadInputException.class,
                () -> run(spec("freeze_blocks: 3\n"), "freeze-3", StageControl.NONE));
        assertTrue(tooMany.getMessage().startsWith("freeze_blocks"), tooMany.getMessage());
    }

    @Test
    void aParentWhoseTokenizerOrShapeDoesNotMatchIsRefused() throws Exception {
        String badTokenizer = copyOfParent("bad-tokenizer", files -> replace(files, "tokenizer.json",
                forge.tokenizer.Tokenizer.train(new forge.tokenizer.TokenizerConfig("char", 0, 10_000),
                        List.of("abc")).toHuggingFaceJson().getBytes(StandardCharsets.UTF_8)));
        BadInputException e = assertThrows(BadInputException.class,
                () -> run(spec(""), "p1", StageControl.NONE, null, badTokenizer));
        assertTrue(e.getMessage().contains(badTokenizer) && e.getMessage().contains("tokenizer"), e.getMessage());

        String badShape = copyOfParent("bad-shape", files -> replace(files, "config.json", new String(
                files.get("config.json"), StandardCharsets.UTF_8).replace("\"n_layer\" : 2", "\"n_layer\" : 3")
                .getBytes(StandardCharsets.UTF_8)));
        e = assertThrows(BadInputException.class, () -> run(spec(""), "p2", StageControl.NONE, null, badShape));
        assertTrue(e.getMessage().contains(badShape) && e.getMessage().contains("h.2"), e.getMessage());

        String nothing = s3.settings("runs").root().resolve("nothing-here/final").toString() + "/";
        e = assertThrows(BadInputException.class, () -> run(spec(""), "p3", StageControl.NONE, null, nothing));
        assertTrue(e.getMessage().contains("nothing-here"), e.getMessage());

        // A stage's own checkpoint from one parent must not be continued from another.
        ObjectNode spec = spec("");
        run(spec, "switched", stopAt(11));
        String otherModel = copyOfParent("other-model", files -> replace(files, "model.safetensors",
                scaled(files.get("model.safetensors"))));
        e = assertThrows(BadInputException.class, () -> run(spec, "switched", StageControl.NONE, null, otherModel));
        assertTrue(e.getMessage().contains("fine-tuned from " + parent), e.getMessage());
        // Nor from a parent overwritten in place with another shape.
        String mutable = copyOfParent("mutable", files -> files);
        run(spec, "in-place", stopAt(11), null, mutable);
        copyOfParent("mutable", files -> replace(files, "config.json", new String(files.get("config.json"),
                StandardCharsets.UTF_8).replace("\"n_embd\" : 32", "\"n_embd\" : 64").getBytes(StandardCharsets.UTF_8)));
        e = assertThrows(BadInputException.class, () -> run(spec, "in-place", StageControl.NONE, null, mutable));
        assertTrue(e.getMessage().contains("shape"), e.getMessage());
    }

    private void assertField(String field, ObjectNode spec) {
        BadInputException e = assertThrows(BadInputException.class, () -> SftConfig.parse(spec));
        assertTrue(e.getMessage().startsWith(field), e.getMessage());
    }

    private Map<String, HostTensor> parentWeights() {
        return Safetensors.read(store("parent", "pretrain").loadFinal().orElseThrow().file("model.safetensors"));
    }

    /** Commits the parent's files, changed by edit, as a checkpoint of its own; returns its URI. */
    private String copyOfParent(String run, java.util.function.UnaryOperator<Map<String, byte[]>> edit) {
        Map<String, byte[]> files = edit.apply(new java.util.LinkedHashMap<>(
                store("parent", "pretrain").loadFinal().orElseThrow().files()));
        List<CheckpointFile> out = new ArrayList<>();
        files.forEach((name, bytes) -> out.add(new CheckpointFile(name, bytes)));
        return store(run, "pretrain").commit(CheckpointStore.FINAL, out).toString();
    }

    private static Map<String, byte[]> replace(Map<String, byte[]> files, String name, byte[] content) {
        files.put(name, content);
        return files;
    }

    private static byte[] scaled(byte[] safetensors) {
        Map<String, HostTensor> w = new java.util.LinkedHashMap<>(Safetensors.read(safetensors));
        HostTensor wte = w.get("wte.weight");
        float[] v = wte.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            v[i] *= 1.01f;
        }
        w.put("wte.weight", HostTensor.f32(wte.shape(), v));
        return Safetensors.write(w, Map.of("format", "pt"));
    }
}
