package forge.tokenizer;

/**
 * One entry of tokenizer.json's added_tokens: text the tokenizer matches before normalisation and BPE and maps
 * straight to its id. Special ones (bos, eos, chat markers) are recognised only where a chat template wrote them,
 * never in user text (see {@link PretrainedTokenizer#encode}).
 *
 * @param lstrip whether whitespace before a match belongs to the token
 * @param rstrip whether whitespace after a match belongs to the token
 * @param singleWord whether it matches only as a whole word
 */
record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord) {
}
