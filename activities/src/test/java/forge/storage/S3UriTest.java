package forge.storage;

import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class S3UriTest {
    @Test
    void parsesAndPrints() {
        S3Uri u = S3Uri.parse("s3://my-bucket/a/b.bin");
        assertEquals(new S3Uri("my-bucket", "a/b.bin"), u);
        assertEquals("s3://my-bucket/a/b.bin", u.toString());
        assertEquals("b.bin", u.name());
        assertEquals(new S3Uri("my-bucket", "data"), S3Uri.parse("s3://my-bucket/data/"));
        assertEquals("s3://my-bucket", S3Uri.parse("s3://my-bucket").toString());
        assertEquals(S3Uri.parse("s3://my-bucket/x"), S3Uri.parse("s3://my-bucket/").resolve("x"));
    }

    @Test
    void resolvesChildren() {
        S3Uri root = S3Uri.parse("s3://b12/runs");
        assertEquals("s3://b12/runs/r1/tokenizer/vocab.json", root.resolve("r1").resolve("tokenizer/vocab.json")
                .toString());
        assertEquals(root, root.resolve(""));
        assertThrows(IllegalArgumentException.class, () -> root.resolve("../etc"));
        assertThrows(IllegalArgumentException.class, () -> root.resolve("a//b"));
        assertThrows(IllegalArgumentException.class, () -> root.resolve("/abs"));
    }

    @Test
    void rejectsWhatIsNotAnS3Uri() {
        for (String bad : new String[]{null, "", "/local/path", "https://b/k", "s3:/b/k", "s3://", "s3://B/k",
                "s3://ab/k", "s3://bucket/a/../b", "s3://bucket/a//b", "s3://bucket//a", "s3://bucket/./a",
                "s3://bucket/a\nb", "s3://bucket/" + "x".repeat(300), "s3://bucket/" + "ab/".repeat(400) + "c"}) {
            BadInputException e = assertThrows(BadInputException.class, () -> S3Uri.parse(bad), String.valueOf(bad));
            assertTrue(e.getMessage().length() < 400, e.getMessage());
        }
    }

    @Test
    void settingsValidateAndBuildStageRoots() {
        S3Settings s = new S3Settings(null, null, false, "ckpts", "/team/forge/");
        assertEquals("us-east-1", s.region());
        assertEquals("team/forge", s.prefix());
        assertEquals("s3://ckpts/team/forge/run-1/sft", s.stageRoot("run-1", "sft").toString());
        assertEquals("https://s3.us-east-1.amazonaws.com", s.endpointForDisplay());
        assertEquals("s3://ckpts/r/pretrain", new S3Settings("http://127.0.0.1:9000/", "", true, "ckpts", null)
                .stageRoot("r", "pretrain").toString());

        assertThrows(IllegalArgumentException.class, () -> s.stageRoot("a/b", "sft"));
        assertThrows(IllegalArgumentException.class, () -> s.stageRoot("..", "sft"));
        assertThrows(IllegalArgumentException.class, () -> s.stageRoot("run", "s ft"));
        assertThrows(IllegalArgumentException.class, () -> s.stageRoot("r".repeat(129), "sft"));
        assertThrows(IllegalArgumentException.class, () -> new S3Settings("ftp://x", null, true, "ckpts", ""));
        assertThrows(IllegalArgumentException.class, () -> new S3Settings(null, null, true, "Bad_Bucket", ""));
        assertThrows(IllegalArgumentException.class, () -> new S3Settings(null, null, true, "ckpts", "a/../b"));
    }

    @Test
    void clientOptionsEnforceS3PartLimits() {
        assertThrows(IllegalArgumentException.class, () -> S3ClientOptions.defaults().withMultipart(10 << 20, 1 << 20));
        assertThrows(IllegalArgumentException.class, () -> S3ClientOptions.defaults().withMultipart(5 << 20, 8 << 20));
        assertThrows(IllegalArgumentException.class, () -> S3ClientOptions.defaults().withMaxAttempts(0));
    }
}
