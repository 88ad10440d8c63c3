package forge.checkpoint;

import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.AbstractMap;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The files of a verified checkpoint by name: small ones held since verification, large ones (shards) fetched again
 * when asked for and checked against the manifest once more on the way, so a loaded checkpoint never holds all its
 * shards on the heap. {@link #get} of a large file downloads it each time; {@link #open} streams it.
 */
final class VerifiedFiles extends AbstractMap<String, byte[]> {
    private final S3Storage s3;
    private final S3Uri dir;
    private final Map<String, byte[]> held;
    private final Map<String, Manifest.Entry> fetched;

    VerifiedFiles(S3Storage s3, S3Uri dir, Map<String, byte[]> held, Map<String, Manifest.Entry> fetched) {
        this.s3 = s3;
        this.dir = dir;
        this.held = Collections.unmodifiableMap(new LinkedHashMap<>(held));
        this.fetched = Collections.unmodifiableMap(new LinkedHashMap<>(fetched));
    }

    @Override
    public boolean containsKey(Object name) {
        return held.containsKey(name) || fetched.containsKey(name);
    }

    @Override
    public byte[] get(Object name) {
        byte[] b = held.get(name);
        if (b != null || !(name instanceof String n) || !fetched.containsKey(n)) {
            return b;
        }
        Manifest.Entry e = fetched.get(n);
        byte[] bytes = s3.get(dir.resolve(n));
        if (bytes.length != e.size() || !Digests.sha256(bytes).equals(e.sha256())) {
            throw changed(n);
        }
        return bytes;
    }

    /** The file as a stream that fails at its end unless size and SHA-256 match the manifest. */
    InputStream open(String name) {
        byte[] b = held.get(name);
        if (b != null) {
            return new ByteArrayInputStream(b);
        }
        Manifest.Entry e = fetched.get(name);
        if (e == null) {
            return null;
        }
        return new Checked(s3.getStream(dir.resolve(name)), e, dir.resolve(name).toString());
    }

    private StorageException changed(String name) {
        return new StorageException(dir.resolve(name) + " changed after its checkpoint was verified: it no longer"
                + " matches " + Manifest.FILE_NAME, 0, null);
    }

    @Override
    public Set<Entry<String, byte[]>> entrySet() {
        // Every large file is downloaded as it is reached: callers that only need some use get.
        Set<Entry<String, byte[]>> out = new LinkedHashSet<>();
        held.forEach((k, v) -> out.add(new SimpleImmutableEntry<>(k, v)));
        fetched.keySet().forEach(k -> out.add(new SimpleImmutableEntry<>(k, get(k))));
        return out;
    }

    @Override
    public Set<String> keySet() {
        Set<String> names = new LinkedHashSet<>(held.keySet());
        names.addAll(fetched.keySet());
        return Collections.unmodifiableSet(names);
    }

    @Override
    public int size() {
        return held.size() + fetched.size();
    }

    /** SHA-256 of a stream, hex, read to its end; null with a byte count that differs from {@code size}. */
    static String digest(InputStream in, long size) throws IOException {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 16];
        long n = 0;
        for (int r; (r = in.read(buf)) >= 0; ) {
            md.update(buf, 0, r);
            n += r;
        }
        return n == size ? HexFormat.of().formatHex(md.digest()) : null;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM must provide SHA-256", e);
        }
    }

    /** Digests what passes through and checks it at the end of the stream. */
    private static final class Checked extends FilterInputStream {
        private final Manifest.Entry entry;
        private final String where;
        private long count;
        private boolean checked;

        Checked(InputStream in, Manifest.Entry entry, String where) {
            super(new DigestInputStream(in, sha256()));
            this.entry = entry;
            this.where = where;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b < 0) {
                check();
            } else {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n < 0) {
                check();
            } else {
                count += n;
            }
            return n;
        }

        private void check() throws IOException {
            if (checked) {
                return;
            }
            checked = true;
            String sha = HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
            if (count != entry.size() || !sha.equals(entry.sha256())) {
                throw new IOException(where + " changed after its checkpoint was verified: " + count + " bytes, sha256 "
                        + sha.substring(0, 12) + "..., manifest says " + entry.size() + " bytes, "
                        + entry.sha256().substring(0, 12) + "...");
            }
        }
    }
}
