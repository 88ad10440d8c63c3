package forge.bench;

import ai.djl.ndarray.NDManager;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.Digests;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.optim.AdamWConfig;
import forge.storage.EmbeddedS3;
import forge.storage.S3ClientOptions;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.tensor.HostTensor;
import forge.tensor.Safetensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * What a checkpoint costs against what the disk under the embedded S3 can do: the same bytes written and read as plain
 * files, then through the real path (Safetensors, {@link CheckpointStore#commit} over S3Proxy on loopback with the
 * production client options, {@link CheckpointStore#latest} with its digest check, and loading into a model).
 */
public final class CheckpointIoBench {
    private static final double MIB = 1024.0 * 1024.0;

    private CheckpointIoBench() {
    }

    /**
     * @param model  the model whose weights and AdamW moments make the checkpoint (moments are twice the weights)
     * @param rounds commits and reads measured; the table shows the median
     * @param dir    where the embedded S3 keeps its objects and the disk probe its file (deleted afterwards); null for
     *               a fresh folder under the system temp directory
     */
    public record Settings(GptConfig model, int rounds, Path dir, long seed) {
        public Settings {
            if (model == null) {
                throw BadInputException.field("bench.model", "is required");
            }
            // Safetensors.write builds one array; the optimizer file (8 bytes a parameter) must fit in it.
            if (model.parameterCount() * 8 > Integer.MAX_VALUE - 1024) {
                throw BadInputException.field("bench.mb", "a checkpoint this large does not fit the 2 GiB arrays "
                        + "Safetensors.write builds");
            }
            if (rounds < 1 || rounds > 20) {
                throw BadInputException.field("bench.rounds", "must be in [1, 20], got " + rounds);
            }
        }

        /** GPT-2's vocabulary and context at 6 layers of width 384: about 30M parameters, a 346 MiB checkpoint. */
        public static Settings defaults() {
            return new Settings(GenerationBench.GPT2_NARROW.config(), 3, null, 1);
        }

        /** A model whose checkpoint (weights + moments, 12 bytes a parameter) is about {@code mib} MiB. */
        public static Settings ofSize(int mib, int rounds, Path dir) {
            return new Settings(modelOfSize(mib), rounds, dir, 1);
        }
    }

    /**
     * The widest of a few GPT-2-like shapes whose non-embedding part takes at most half of {@code mib}, with the
     * vocabulary filling the rest: large checkpoints keep realistic tensor sizes, small ones still build.
     */
    public static GptConfig modelOfSize(int mib) {
        if (mib < 1 || mib > 1500) {
            throw BadInputException.field("bench.mb", "must be in [1, 1500], got " + mib);
        }
        long targetParams = (long) (mib * MIB / 12);
        int[][] shapes = {{384, 6, 6, 512}, {256, 4, 4, 256}, {128, 4, 2, 128}, {64, 2, 2, 64}, {32, 2, 1, 32}};
        for (int[] s : shapes) {
            GptConfig withoutVocab = new GptConfig(1, s[3], s[2], s[1], s[0], 0, true);
            long rest = withoutVocab.parameterCount() - s[0];
            if (rest <= targetParams / 2 || s == shapes[shapes.length - 1]) {
                int vocab = (int) Math.max(64, (targetParams - rest) / s[0] / 64 * 64);
                return new GptConfig(vocab, s[3], s[2], s[1], s[0], 0, true);
            }
        }
        throw new IllegalStateException("unreachable");
    }

    /** Seconds of each round, in order; {@link #median} for the table. */
    public record Result(GptConfig model, long modelBytes, long optimizerBytes, String fileStore,
                         double snapshotSeconds, double[] diskWriteSync, double[] diskWriteNoSync, double[] diskRead,
                         double[] serialize, double[] digest, double[] commit, double[] latest, double[] load,
                         int torchThreads) {
        public long totalBytes() {
            return modelBytes + optimizerBytes;
        }

        /** MiB per second of the whole checkpoint over the median of {@code seconds}. */
        public double rate(double[] seconds) {
            return totalBytes() / MIB / median(seconds);
        }

        public BenchSection section() {
            List<BenchSection.Row> rows = new ArrayList<>();
            rows.add(BenchSection.Row.of("checkpoint", String.format(Locale.ROOT,
                    "%.1f MiB: model.safetensors %.1f + optimizer.safetensors %.1f (%.1fM parameters)",
                    totalBytes() / MIB, modelBytes / MIB, optimizerBytes / MIB, model.parameterCount() / 1e6)));
            rows.add(rate("local disk write + fsync", diskWriteSync));
            rows.add(rate("local disk write, no fsync (page cache)", diskWriteNoSync));
            rows.add(rate("local disk read (page cache warm)", diskRead));
            rows.add(BenchSection.Row.of("host copy of weights + moments (training thread stall)",
                    String.format(Locale.ROOT, "%.2f s", snapshotSeconds)));
            rows.add(rate("serialize (Safetensors.write)", serialize));
            rows.add(rate("SHA-256 of the files (once per commit, once per load)", digest));
            rows.add(rate("**S3 commit** (CheckpointStore.commit: digest, upload, manifest, retention)", commit));
            rows.add(rate("**S3 read** (CheckpointStore.latest: download + digest check)", latest));
            rows.add(rate("load into the model (parse + Gpt.load + AdamW.loadState)", load));
            rows.add(BenchSection.Row.of("S3 commit / disk write + fsync",
                    String.format(Locale.ROOT, "%.2f", rate(commit) / rate(diskWriteSync))));
            rows.add(BenchSection.Row.of("S3 read / disk read", String.format(Locale.ROOT, "%.2f",
                    rate(latest) / rate(diskRead))));
            rows.add(BenchSection.Row.of("checkpoint written in the background (serialize + commit)",
                    String.format(Locale.ROOT, "%.2f s", median(serialize) + median(commit))));
            rows.add(BenchSection.Row.of("resume from S3 (read + load)",
                    String.format(Locale.ROOT, "%.2f s", median(latest) + median(load))));
            List<String> notes = List.of(String.format(Locale.ROOT,
                    "Median of %d rounds, one JVM, %d torch threads, objects and probe file on %s. Model: %d layers, "
                            + "width %d, vocabulary %d, context %d; AdamW moments filled from the weights so no file "
                            + "is all zeros. The S3 path is the production one: AWS SDK v2 with the default client "
                            + "options (multipart from %d MiB in %d MiB parts) against S3Proxy's filesystem backend on "
                            + "loopback, so it shares the CPU with the server.",
                    serialize.length, torchThreads, fileStore, model.nLayer(), model.nEmbd(), model.vocabSize(),
                    model.blockSize(), S3ClientOptions.defaults().multipartThreshold() >> 20,
                    S3ClientOptions.defaults().partSize() >> 20),
                    "Disk reads come from the page cache into an array allocated beforehand (the file was just "
                            + "written, and Java has no O_DIRECT); S3Proxy's reads hit the page cache too, so the read "
                            + "ratio is what the S3 protocol and the digest check cost, not a cold disk. S3Proxy does "
                            + "not fsync, so the fair write comparison lies between the two disk write rows. "
                            + "Serialization and the S3 read allocate their arrays as production does.");
            return new BenchSection("Checkpoint I/O", rows, notes);
        }

        private BenchSection.Row rate(String figure, double[] seconds) {
            return BenchSection.Row.of(figure, String.format(Locale.ROOT, "%,.0f MiB/s (%.2f s)", rate(seconds),
                    median(seconds)));
        }
    }

    public static BenchSection run(Settings settings, Consumer<String> progress) {
        return measure(settings, progress).section();
    }

    public static Result measure(Settings settings, Consumer<String> progress) {
        Path dir = settings.dir();
        boolean ownDir = dir == null;
        try {
            dir = ownDir ? Files.createTempDirectory("forge-bench-io-") : Files.createDirectories(dir);
            return measureIn(settings, dir, progress);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (dir != null) {
                // A caller's folder is kept, but not the objects we put in it.
                deleteQuietly(ownDir ? dir : dir.resolve("s3"));
                deleteQuietly(dir.resolve("disk"));
            }
        }
    }

    private static Result measureIn(Settings settings, Path dir, Consumer<String> progress) throws IOException {
        GptConfig cfg = settings.model();
        int rounds = settings.rounds();
        int threads = Integer.getInteger("ai.djl.pytorch.num_threads", Runtime.getRuntime().availableProcessors());
        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, cfg, settings.seed());
             AdamW optimizer = new AdamW(manager, model.parameters(), AdamWConfig.nanoGptBaby())) {
            progress.accept(String.format(Locale.ROOT, "model of %.1fM parameters built", cfg.parameterCount() / 1e6));
            optimizer.loadState(momentsFromWeights(model.snapshot()));

            long t = System.nanoTime();
            Map<String, HostTensor> weights = model.snapshot();
            Map<String, HostTensor> moments = optimizer.snapshotState();
            double snapshot = seconds(t);

            double[] serialize = new double[rounds];
            double[] digest = new double[rounds];
            double[] commit = new double[rounds];
            double[] latest = new double[rounds];
            double[] load = new double[rounds];
            double[] diskSync = new double[rounds];
            double[] diskNoSync = new double[rounds];
            double[] diskRead = new double[rounds];
            long modelBytes = 0;
            long optimizerBytes = 0;
            Path disk = Files.createDirectories(dir.resolve("disk"));
            FileStore store = Files.getFileStore(disk);
            String fileStore = store.type() + " (" + store.name() + ")";
            try (EmbeddedS3 server = EmbeddedS3.start(dir.resolve("s3"), "127.0.0.1", 0, "bench", "bench-key",
                    "bench-secret")) {
                server.useAsDefaultCredentials();
                S3Settings s3 = server.settings("bench");
                try (S3Storage storage = new S3Storage(s3, S3ClientOptions.defaults())) {
                    CheckpointStore checkpoints = new CheckpointStore(storage, s3.stageRoot("io", "pretrain"), 2);
                    // One unmeasured round: connections, JIT and the page cache start warm in every measured one.
                    for (int r = -1; r < rounds; r++) {
                        boolean measured = r >= 0;
                        t = System.nanoTime();
                        byte[] modelFile = Safetensors.write(weights, Map.of("format", "pt"));
                        byte[] optimizerFile = Safetensors.write(moments, Map.of());
                        double ser = seconds(t);
                        modelBytes = modelFile.length;
                        optimizerBytes = optimizerFile.length;
                        List<CheckpointFile> files = List.of(new CheckpointFile("model.safetensors", modelFile),
                                new CheckpointFile("optimizer.safetensors", optimizerFile));

                        t = System.nanoTime();
                        Digests.sha256(modelFile);
                        Digests.sha256(optimizerFile);
                        double dig = seconds(t);

                        double[] d = diskRound(disk, files);

                        t = System.nanoTime();
                        checkpoints.commit(CheckpointStore.stepDir(r + 2), files);
                        double com = seconds(t);

                        t = System.nanoTime();
                        LoadedCheckpoint loaded = checkpoints.latest().orElseThrow(
                                () -> new IllegalStateException("the checkpoint just committed does not load"));
                        double lat = seconds(t);
                        if (loaded.step() != r + 2) {
                            throw new IllegalStateException("loaded step " + loaded.step() + ", committed " + (r + 2));
                        }

                        t = System.nanoTime();
                        model.load(Safetensors.read(loaded.file("model.safetensors")));
                        optimizer.loadState(Safetensors.read(loaded.file("optimizer.safetensors")));
                        double ld = seconds(t);
                        if (measured) {
                            serialize[r] = ser;
                            digest[r] = dig;
                            diskSync[r] = d[0];
                            diskNoSync[r] = d[1];
                            diskRead[r] = d[2];
                            commit[r] = com;
                            latest[r] = lat;
                            load[r] = ld;
                        }
                        progress.accept(String.format(Locale.ROOT, "%s: serialize %.2f s, disk write+fsync %.2f s, "
                                        + "S3 commit %.2f s, S3 read %.2f s, load %.2f s",
                                measured ? "round " + (r + 1) + "/" + rounds : "warm-up", ser, d[0], com, lat, ld));
                    }
                }
            }
            return new Result(cfg, modelBytes, optimizerBytes, fileStore, snapshot, diskSync, diskNoSync, diskRead,
                    serialize, digest, commit, latest, load, threads);
        }
    }

    /** Seconds to write the files with and without fsync, and to read them back. */
    private static double[] diskRound(Path disk, List<CheckpointFile> files) throws IOException {
        double sync = 0;
        double noSync = 0;
        double read = 0;
        for (CheckpointFile f : files) {
            Path p = disk.resolve(f.name());
            Files.deleteIfExists(p);
            long t = System.nanoTime();
            write(p, f.content(), true);
            sync += seconds(t);
            Files.delete(p);
            t = System.nanoTime();
            write(p, f.content(), false);
            noSync += seconds(t);
            // Allocated and touched before the clock starts: a fresh array of a few hundred MiB costs page faults
            // that swung the rate by 5x from run to run, and measure the heap, not the disk.
            byte[] back = new byte[f.content().length];
            Arrays.fill(back, (byte) 1);
            t = System.nanoTime();
            int n = readFully(p, back);
            read += seconds(t);
            if (n != back.length) {
                throw new IllegalStateException("read " + n + " bytes of " + p + ", wrote " + back.length);
            }
            Files.delete(p);
        }
        return new double[] {sync, noSync, read};
    }

    private static int readFully(Path p, byte[] into) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.wrap(into);
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // until full or at the end of the file
            }
            return buf.position();
        }
    }

    private static void write(Path p, byte[] data, boolean sync) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.wrap(data);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            if (sync) {
                ch.force(true);
            }
        }
    }

    /** AdamW moments shaped like the parameters and filled from them: a fresh optimizer's are all zeros. */
    private static Map<String, HostTensor> momentsFromWeights(Map<String, HostTensor> weights) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        weights.forEach((name, w) -> out.put("exp_avg." + name, w));
        weights.forEach((name, w) -> {
            float[] v = w.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                v[i] = v[i] * v[i];
            }
            out.put("exp_avg_sq." + name, HostTensor.f32(w.shape(), v));
        });
        return out;
    }

    public static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /** Deletes a benchmark's temporary folder; a leftover one is not worth failing a finished benchmark over. */
    public static void deleteQuietly(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // A leftover temp folder is not worth failing a benchmark over.
        }
    }
}
