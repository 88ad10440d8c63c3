package forge.cli;

import forge.train.ParentModel;
import forge.errors.BadInputException;
import forge.generation.CheckpointGenerator.Generation;
import forge.generation.CheckpointGenerator.Reply;
import forge.generation.CheckpointGenerator;
import forge.model.GenerationOptions;
import forge.model.GptConfig;
import forge.storage.S3Storage;
import forge.worker.WorkerProcess;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Samples from any stage's checkpoint, to see what a model says. */
@Command(name = "generate", description = "Sample from a checkpoint of any stage: answers to chat prompts (sft, reward, "
        + "ppo) or continuations of text (pretrain, or --raw). S3 settings from FORGE_S3_*; `source .forge/dev.env` "
        + "for the dev stack's.")
final class GenerateCommand implements Callable<Integer> {
    /** GenerationOptions names its fields as a spec would; here they are flags. */
    private static final Map<String, String> FLAGS = Map.of(
            "generate.max_new_tokens", "--max-new-tokens",
            "generate.temperature", "--temperature",
            "generate.top_k", "--top-k",
            "generate.top_p", "--top-p");

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", description = "a stage's checkpoint directory, e.g. s3://forge/runs/<run>/sft/final/, or a Hugging "
            + "Face checkpoint directory (local, or an s3:// prefix)")
    String checkpoint;

    @Option(names = "--prompt", required = true, description = "a prompt; repeat for several")
    List<String> prompts;

    @Option(names = "--max-new-tokens", defaultValue = "32", description = "tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 is greedy (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "keep the k likeliest tokens; 0 = all (default ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass in (0, 1]; 1 = off (default ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--seed", defaultValue = "1", description = "the same seed gives the same samples (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--samples", defaultValue = "1", description = "samples per prompt (default ${DEFAULT-VALUE})")
    int samples;

    @ArgGroup(exclusive = true)
    Mode mode;

    static final class Mode {
        @Option(names = "--raw", description = "continue the prompt as plain text (the default for a pretrain checkpoint)")
        boolean raw;

        @Option(names = "--chat", description = "answer the prompt as a user turn (the default for sft, reward and ppo)")
        boolean chat;
    }

    @Option(names = "--no-kv-cache", description = "recompute the whole context for every token (slow; for comparison)")
    boolean noKvCache;

    @Override
    public Integer call() {
        // Every flag is checked before anything is loaded.
        GenerationOptions opts = options();
        if (samples < 1) {
            throw new BadInputException("--samples: must be >= 1, got " + samples);
        }
        var settings = connection.settings();
        WorkerProcess.configureTorchThreads(settings.torchThreads());
        String uri = checkpoint;
        try (S3Storage storage = new S3Storage(settings.s3());
             CheckpointGenerator generator = CheckpointGenerator.load(ParentModel.reader(storage, checkpoint),
                     ParentModel.resolve(checkpoint, storage))) {
            boolean chat = mode == null ? generator.chatByDefault() : mode.chat;
            GptConfig c = generator.config();
            System.out.printf(Locale.ROOT, "%s: %s checkpoint, %d layers, %d heads, %d wide, context %d, %s "
                            + "tokenizer of %d; %s%n", uri, generator.stage() == null ? "a" : generator.stage(),
                    c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), generator.tokenizer().type(), c.vocabSize(),
                    chat ? "chat prompts" : "raw text");
            Generation g = generator.sample(prompts, samples, opts, seed, chat);
            for (int p = 0; p < prompts.size(); p++) {
                System.out.println();
                System.out.println((chat ? "Q: " : "> ") + prompts.get(p));
                for (int s = 0; s < samples; s++) {
                    Reply r = g.replies().get(p * samples + s);
                    if (s == 0 && r.croppedTokens() > 0) {
                        System.out.printf(Locale.ROOT, "  (the prompt's first %d tokens were cut: %d prompt tokens "
                                        + "and %d new ones fill the context of %d)%n", r.croppedTokens(),
                                r.promptTokens(), maxNewTokens, c.blockSize());
                    }
                    String label = samples > 1 ? String.format(Locale.ROOT, "[%d] ", s + 1) : "";
                    String text = chat ? "A: " + r.text() : prompts.get(p) + r.text();
                    System.out.println("  " + label + text.replace("\n", "\n  " + " ".repeat(label.length())));
                }
            }
            System.out.println();
            System.out.printf(Locale.ROOT, "%d new tokens in %.2f s: %.1f tokens/s (%s, temperature %s, seed %d)%n",
                    g.newTokens(), g.seconds(), g.tokensPerSecond(), noKvCache ? "no KV cache" : "KV cache",
                    trim(temperature), seed);
        }
        return 0;
    }

    /** The sampling flags as GenerationOptions, its complaints naming the flag; the stop token is the mode's. */
    GenerationOptions options() {
        try {
            return new GenerationOptions(maxNewTokens, temperature, topK, topP, -1, !noKvCache);
        } catch (BadInputException e) {
            String message = e.getMessage();
            for (Map.Entry<String, String> f : FLAGS.entrySet()) {
                if (message.startsWith(f.getKey() + ":")) {
                    message = f.getValue() + message.substring(f.getKey().length());
                }
            }
            throw new BadInputException(message, e);
        }
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
