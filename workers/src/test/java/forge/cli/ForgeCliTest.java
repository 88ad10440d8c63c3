package forge.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI's promises about bad input: a one-line error naming the problem, and a documented exit code. */
class ForgeCliTest {
    @TempDir
    Path dir;

    @Test
    void aSpecWithAnUnknownStageKeyIsRefusedBeforeAnythingStarts() throws Exception {
        Path spec = Files.writeString(dir.resolve("bad.yaml"), "stages:\n  pretrain:\n    modle: {n_layer: 2}\n");
        Result r = run("start", spec.toString(), "--address", "127.0.0.1:" + closedPort());
        assertEquals(Forge.EXIT_BAD_INPUT, r.code);
        assertTrue(r.err.contains("stages.pretrain.modle: unknown key"), r.err);
    }

    @Test
    void aMissingSpecFileIsNamed() throws Exception {
        Result r = run("start", dir.resolve("nope.yaml").toString());
        assertEquals(Forge.EXIT_BAD_INPUT, r.code);
        assertTrue(r.err.contains("nope.yaml: no such spec file"), r.err);
    }

    @Test
    void anUnreachableTemporalIsOneLineAndItsOwnExitCode() throws Exception {
        Result r = run("status", "some-run", "--address", "127.0.0.1:" + closedPort());
        assertEquals(Forge.EXIT_UNREACHABLE, r.code);
        assertTrue(r.err.startsWith("error: cannot reach Temporal"), r.err);
        assertEquals(1, r.err.strip().lines().count(), r.err);
    }

    @Test
    void anUnknownRoleIsRefused() throws Exception {
        Result r = run("worker", "--role", "tpu");
        assertEquals(Forge.EXIT_BAD_INPUT, r.code);
        assertTrue(r.err.contains("--role"), r.err);
    }

    @Test
    void badGenerationFlagsAreRefusedNamingTheFlagBeforeAnythingIsLoaded() {
        String[][] cases = {
                {"--temperature", "-1", "--temperature: must be >= 0"},
                {"--top-p", "1.5", "--top-p: must be in (0, 1]"},
                {"--top-p", "0", "--top-p: must be in (0, 1]"},
                {"--top-k", "-3", "--top-k: must be >= 0"},
                {"--max-new-tokens", "-1", "--max-new-tokens: must be >= 0"},
                {"--samples", "0", "--samples: must be >= 1"}};
        for (String[] c : cases) {
            Result r = run("generate", "s3://nowhere/runs/x/sft/final/", "--prompt", "hi", c[0], c[1]);
            assertEquals(Forge.EXIT_BAD_INPUT, r.code, r.err);
            assertTrue(r.err.startsWith("error: " + c[2]), r.err);
            assertEquals(1, r.err.strip().lines().count(), r.err);
        }
        Result r = run("generate", "s3://nowhere/runs/x/sft/final/", "--prompt", "hi", "--raw", "--chat");
        assertEquals(Forge.EXIT_BAD_INPUT, r.code, r.err);
    }

    @Test
    void anUnknownBenchModelIsRefused() {
        Result r = run("bench", "generation", "--models", "gpt5");
        assertEquals(Forge.EXIT_BAD_INPUT, r.code, r.err);
        assertTrue(r.err.contains("--models: unknown model \"gpt5\""), r.err);
    }

    private record Result(int code, String err) {}

    private static Result run(String... args) {
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Forge.execute(args);
            return new Result(code, err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(oldErr);
        }
    }

    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
