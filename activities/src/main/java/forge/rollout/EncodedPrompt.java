package forge.rollout;

/** A rollout prompt and its ids under the chat template, ending with {@code <|assistant|>}: what the policy continues. */
public record EncodedPrompt(Prompt prompt, int[] ids) {}
