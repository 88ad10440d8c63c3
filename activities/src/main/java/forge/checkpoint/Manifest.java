package forge.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.storage.Segments;

import java.io.IOException;
import java.time.Instant;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * MANIFEST.json: the list of a checkpoint's files with size and SHA-256. It is written last, so its presence means
 * every file was uploaded, and the checksums catch anything damaged afterwards.
 *
 * @param createdAt ISO-8601 instant, informational only (may be null)
 * @param epoch     the epoch of the attempt that wrote it (docs/fencing.md); 0 in manifests older than epochs
 * @param token     that attempt's token, so a reader can tell two writers of one epoch apart; may be null
 * @param producer  what produced it — hardware, engine, dtype, threads — since bit-exact resume holds only when
 *                  they are the same; empty when unknown
 */
public record Manifest(int formatVersion, String name, List<Entry> files, String createdAt, long epoch, String token,
                       Map<String, String> producer) {
    public static final int FORMAT_VERSION = 1;
    public static final String FILE_NAME = "MANIFEST.json";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    // Unknown fields are ignored so a newer writer can add some without making old readers call it corrupt.
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .enable(SerializationFeature.INDENT_OUTPUT);

    public record Entry(String name, long size, String sha256) {
        public Entry {
            Segments.checkPath(name, "manifest entry name");
            if (name.isEmpty()) {
                throw new IllegalArgumentException("manifest entry has an empty name");
            }
            if (size < 0) {
                throw new IllegalArgumentException("manifest entry " + name + " has negative size " + size);
            }
            if (sha256 == null || !SHA256.matcher(sha256).matches()) {
                throw new IllegalArgumentException("manifest entry " + name + " has an invalid sha256 '" + sha256 + "'");
            }
        }
    }

    public Manifest {
        if (formatVersion < 1) {
            throw new IllegalArgumentException("manifest formatVersion must be >= 1, got " + formatVersion);
        }
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("manifest has no name");
        }
        if (files == null || files.isEmpty()) {
            throw new IllegalArgumentException("manifest lists no files");
        }
        files = List.copyOf(files);
        producer = producer == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(producer));
        Set<String> seen = new HashSet<>();
        for (Entry e : files) {
            if (e == null) {
                throw new IllegalArgumentException("manifest has a null entry");
            }
            if (!seen.add(e.name())) {
                throw new IllegalArgumentException("manifest lists " + e.name() + " twice");
            }
        }
    }

    /** Describes {@code files} as they are now; checksums computed here. */
    public static Manifest describe(String name, List<CheckpointFile> files) {
        return describe(name, files, 0, null, Map.of());
    }

    /** Describes in-memory {@code files} as the attempt of {@code epoch} writes them. */
    public static Manifest describe(String name, List<CheckpointFile> files, long epoch, String token,
                                    Map<String, String> producer) {
        List<Entry> entries = files.stream()
                .map(f -> new Entry(f.name(), f.content().length, Digests.sha256(f.content())))
                .toList();
        return of(name, entries, epoch, token, producer);
    }

    /** Files already uploaded, with the digests computed while they streamed. */
    public static Manifest of(String name, List<Entry> entries, long epoch, String token,
                              Map<String, String> producer) {
        return new Manifest(FORMAT_VERSION, name, entries, Instant.now().toString(), epoch, token, producer);
    }

    public Optional<Entry> entry(String fileName) {
        return files.stream().filter(e -> e.name().equals(fileName)).findFirst();
    }

    public long totalBytes() {
        return files.stream().mapToLong(Entry::size).sum();
    }

    public byte[] toJson() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialize manifest " + name, e);
        }
    }

    /** @throws IllegalArgumentException with a one-line reason when the bytes are not a valid manifest */
    public static Manifest parse(byte[] json) {
        try {
            Manifest m = JSON.readValue(json, Manifest.class);
            if (m == null) {
                throw new IllegalArgumentException("empty manifest");
            }
            return m;
        } catch (IOException e) {
            Throwable cause = e.getCause() instanceof IllegalArgumentException iae ? iae : e;
            String msg = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
            int nl = msg.indexOf('\n');
            throw new IllegalArgumentException(nl < 0 ? msg : msg.substring(0, nl), e);
        }
    }
}
