package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code $search} as Atlas Search documents it, for the operators {@link SearchOperators} knows:
 * {@code index} (default "default"), one operator, optional {@code scoreDetails}. Hits come best
 * first with their BM25 score in hidden fields that {@code {$meta: "searchScore"}} and {@code
 * {$meta: "score"}} read.
 */
final class TextSearchStage {
  /** Where {$meta: "searchScore"} reads from; removed from the output. */
  static final String SEARCH_SCORE = "__searchScore";
  /** Where {$meta: "score"} reads from (every search stage and $rankFusion set it). */
  static final String SCORE = "__score";
  /** Where {$meta: "scoreDetails"} reads from. */
  static final String SCORE_DETAILS = "__scoreDetails";
  static final List<String> HIDDEN =
      List.of(VectorSearchStage.SCORE_FIELD, SEARCH_SCORE, SCORE, SCORE_DETAILS);
  private static final Set<String> KEYS = Set.of("index", "scoreDetails");

  private TextSearchStage() {}

  /** The matches, best first; at most `limit` (the $limit that follows, when one does). */
  static List<Document> run(Object rawSpec, TextIndexes indexes, String database, String collection,
                            StoredDocuments source, int limit) {
    if (!(rawSpec instanceof Document)) {
      throw SearchOperators.error("the stage's argument must be a document");
    }
    Document spec = (Document) rawSpec;
    Object rawIndex = spec.getOrDefault("index", "default");
    if (!(rawIndex instanceof String)) {
      throw SearchOperators.error("\"index\" must be a string");
    }
    Object details = spec.getOrDefault("scoreDetails", false);
    if (!(details instanceof Boolean)) {
      throw SearchOperators.error("\"scoreDetails\" must be a boolean");
    }
    TextIndex index = indexes.named(database, collection, (String) rawIndex);
    if (index == null) {
      // Atlas answers a $search on a missing index with no results; the stand-in says why.
      throw new MongoServerError(27, "IndexNotFound",
          "$search: search index '" + rawIndex + "' does not exist on " + database + "." + collection
              + "; create it with createSearchIndexes (type \"search\") and wait until it is READY");
    }
    if (!SearchIndex.READY.equals(index.status)) {
      throw SearchOperators.error("search index '" + rawIndex + "' is " + index.status + " and not yet queryable");
    }
    List<LuceneVectors.Hit> hits;
    try {
      hits = index.search(SearchOperators.parse(spec, "$search", KEYS), limit);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
    List<Document> docs = new ArrayList<>(hits.size());
    for (LuceneVectors.Hit hit : hits) {
      Document doc = source == null ? null : source.byId(hit.id());
      if (doc == null) {
        continue;
      }
      Document copy = new Document(doc);
      copy.put(SEARCH_SCORE, hit.score());
      copy.put(SCORE, hit.score());
      if ((Boolean) details) {
        copy.put(SCORE_DETAILS, new Document("value", hit.score())
            .append("description", "BM25 score of the text operators (lucene.standard)")
            .append("details", List.of()));
      }
      docs.add(copy);
    }
    return docs;
  }
}
