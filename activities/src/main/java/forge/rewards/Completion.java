package forge.rewards;

import forge.rollout.Prompt;

/**
 * One sampled answer, as every reward source sees it.
 *
 * @param sequence the prompt's ids then the reply's, as sampled (what a reward model reads)
 * @param ended    whether the reply closed its turn rather than ran out of tokens
 */
public record Completion(Prompt prompt, String reply, int[] sequence, boolean ended) {}
