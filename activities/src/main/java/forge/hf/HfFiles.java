package forge.hf;

import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.storage.StorageException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** The files of a Hugging Face checkpoint directory, on local disk or under an {@code s3://} prefix. */
public interface HfFiles {
    /** The file's bytes, or null when the directory has no such file. */
    byte[] read(String name);

    /** The file as errors name it, e.g. {@code s3://models/qwen/config.json}. */
    String where(String name);

    static HfFiles local(Path dir) {
        return new HfFiles() {
            @Override
            public byte[] read(String name) {
                try {
                    return Files.readAllBytes(dir.resolve(name));
                } catch (NoSuchFileException e) {
                    return null;
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + dir.resolve(name), e);
                }
            }

            @Override
            public String where(String name) {
                return dir.resolve(name).toString();
            }
        };
    }

    /** Files already in memory (a verified Forge checkpoint), named as errors should name them. */
    static HfFiles of(java.util.Map<String, byte[]> files, String dir) {
        return new HfFiles() {
            @Override
            public byte[] read(String name) {
                return files.get(name);
            }

            @Override
            public String where(String name) {
                return dir.endsWith("/") ? dir + name : dir + "/" + name;
            }
        };
    }

    static HfFiles s3(S3Storage storage, S3Uri prefix) {
        return new HfFiles() {
            @Override
            public byte[] read(String name) {
                return storage.getIfExists(prefix.resolve(name)).orElse(null);
            }

            @Override
            public String where(String name) {
                return prefix.resolve(name).toString();
            }
        };
    }
}
