package forge.train;

import forge.checkpoint.CheckpointStore;
import forge.checkpoint.Digests;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.Manifest;
import forge.errors.BadInputException;
import forge.hf.HfCheckpoint;
import forge.hf.HfFiles;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.tensor.HostTensor;
import forge.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The checkpoint a stage starts from (the previous stage's {@code final/}, any Forge checkpoint the spec names, or
 * a Hugging Face checkpoint directory, {@code init_from: {hf: ...}}): its model shape from {@code config.json}, its
 * tokenizer, its weights, and a digest of its files so that a stage cache key changes when the parent does.
 *
 * @param uri        how the parent is named in state and logs: an {@code s3://} checkpoint, or {@code hf:} and the
 *                   directory
 * @param checkpoint the Forge checkpoint's files; for a Hugging Face directory its small files (no weights)
 */
public record ParentModel(String uri, LoadedCheckpoint checkpoint, GptConfig config, Tokenizer tokenizer,
                          Map<String, HostTensor> weights, List<String> digest) {
    /** How a config's init_from names a Hugging Face directory (see {@link ConfigSections#initFrom}). */
    public static final String HF = "hf:";

    /**
     * Which checkpoint a stage starts from: its config's init_from if set, else the previous stage's output; a stage
     * with neither (the first of its spec, without init_from) cannot start.
     */
    public static String uri(String initFrom, String previousStageOutput, String stage) {
        String uri = initFrom != null ? initFrom : previousStageOutput;
        if (uri == null) {
            throw BadInputException.field("init_from", "is needed when " + stage + " is the first stage of a "
                    + "pipeline: name the checkpoint it starts from (e.g. an earlier stage's s3://.../final/, or "
                    + "{hf: <dir or s3:// prefix>})");
        }
        return uri;
    }

    /**
     * A command line's checkpoint argument as a parent uri: a local directory, or an s3:// prefix holding a
     * config.json but no Forge manifest, is a Hugging Face checkpoint; anything else a Forge checkpoint.
     */
    public static String resolve(String arg, S3Storage storage) {
        if (arg.startsWith(HF)) {
            return arg;
        }
        if (!arg.startsWith("s3://")) {
            return HF + arg;
        }
        S3Uri dir = S3Uri.parse(arg.endsWith("/") ? arg : arg + "/");
        if (!storage.exists(dir.resolve(Manifest.FILE_NAME)) && storage.exists(dir.resolve(HfCheckpoint.CONFIG))) {
            return HF + dir;
        }
        return dir.toString();
    }

    /** A store to read a parent through; its own stage root is never written. */
    public static CheckpointStore reader(S3Storage storage, String uri) {
        return new CheckpointStore(storage, uri.startsWith("s3://") ? S3Uri.parse(uri.endsWith("/") ? uri : uri + "/")
                : storage.settings().root(), 2);
    }

    /** Loads and checks a parent; anything unusable is the user's error, naming the checkpoint. */
    public static ParentModel load(CheckpointStore reader, String uri) {
        if (uri.startsWith(HF)) {
            String dir = uri.substring(HF.length());
            HfFiles files = dir.startsWith("s3://")
                    ? HfFiles.s3(reader.storage(), S3Uri.parse(dir.endsWith("/") ? dir : dir + "/"))
                    : HfFiles.local(Path.of(dir));
            HfCheckpoint hf = HfCheckpoint.read(files);
            Map<String, byte[]> small = new LinkedHashMap<>();
            for (String name : List.of(HfCheckpoint.CONFIG, HfCheckpoint.TOKENIZER, HfCheckpoint.TOKENIZER_CONFIG,
                    HfCheckpoint.GENERATION_CONFIG)) {
                byte[] b = files.read(name);
                if (b != null) {
                    small.put(name, b);
                }
            }
            S3Uri where = dir.startsWith("s3://") ? S3Uri.parse(dir.endsWith("/") ? dir : dir + "/") : null;
            return new ParentModel(uri, new LoadedCheckpoint(where, "hf", small), hf.config(), hf.tokenizer(),
                    hf.weights(), hf.digest());
        }
        LoadedCheckpoint c = reader.loadRequired(S3Uri.parse(uri.endsWith("/") ? uri : uri + "/"));
        HfCheckpoint read;
        try {
            read = HfCheckpoint.read(HfFiles.of(c.files(), c.uri().toString()));
        } catch (BadInputException e) {
            throw new BadInputException("parent checkpoint " + uri + ": " + e.getMessage(), e);
        }
        List<String> digest = new ArrayList<>();
        List<String> named = new ArrayList<>();
        if (c.has(HfCheckpoint.WEIGHTS)) {
            named.add(HfCheckpoint.WEIGHTS);
        } else {
            // Sharded weights: the index and every shard, by the digests the manifest verified (no second download).
            named.add(HfCheckpoint.INDEX);
            named.addAll(forge.tensor.SafetensorsIndex.parse(c.file(HfCheckpoint.INDEX), c.uri() + "/"
                    + HfCheckpoint.INDEX).shards());
        }
        named.addAll(List.of("tokenizer.json", "config.json"));
        for (String name : named) {
            String sha = c.manifest() == null ? null
                    : c.manifest().entry(name).map(forge.checkpoint.Manifest.Entry::sha256).orElse(null);
            digest.add(name + " " + (sha != null ? sha : Digests.sha256(c.file(name))));
        }
        return new ParentModel(c.uri().toString(), c, read.config(), read.tokenizer(), read.weights(),
                List.copyOf(digest));
    }

    /** Copies the weights into a model built from {@link #config()}; a shape mismatch names the tensor. */
    public void loadInto(Gpt model) {
        try {
            model.load(weights);
        } catch (BadInputException e) {
            throw new BadInputException("parent checkpoint " + uri() + ": " + e.getMessage(), e);
        }
    }

    /**
     * A stage's own checkpoint must have been trained from this parent: same model shape, same tokenizer. A parent
     * that changed under a running stage (re-trained, or init_from pointed elsewhere) would otherwise be mixed in.
     */
    public void requireSameAs(LoadedCheckpoint own) {
        String recorded = TrainState.fromJson(own.file("state.json"), own.uri().toString()).parentCheckpoint();
        if (recorded != null && !recorded.equals(uri())) {
            throw new BadInputException(own.uri() + " was fine-tuned from " + recorded + ", but this attempt starts "
                    + "from " + uri() + "; a run id names one pipeline — start under a new run id");
        }
        // Whether the model has biases shows in its tensors, not config.json; a mismatch there fails the load itself.
        GptConfig ownConfig = configOf(own);
        if (!ownConfig.equals(config)) {
            throw new BadInputException(own.uri() + " was trained from a model of shape " + ownConfig
                    + ", but the parent checkpoint " + uri() + " has shape " + config
                    + "; start the stage under a new run id");
        }
        String ownTokenizer = new String(own.file("tokenizer.json"), StandardCharsets.UTF_8);
        if (!ownTokenizer.equals(tokenizer.toHuggingFaceJson())) {
            throw new BadInputException(own.uri() + " uses a different tokenizer from its parent checkpoint " + uri()
                    + "; start the stage under a new run id");
        }
    }

    /** The shape a checkpoint's config.json and tensors describe. */
    private static GptConfig configOf(LoadedCheckpoint c) {
        try {
            return HfCheckpoint.read(HfFiles.of(c.files(), c.uri().toString())).config();
        } catch (BadInputException e) {
            throw new BadInputException("checkpoint " + c.uri() + ": " + e.getMessage(), e);
        }
    }
}
