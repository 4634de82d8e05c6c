package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.search.Query;

/**
 * {@code $vectorSearch} as Atlas documents it: {@code index, path, queryVector, limit,
 * numCandidates} (≥ limit, ≤ 10000; not with {@code exact}), {@code filter} on fields declared
 * {@code type: "filter"}, {@code exact: true} for ENN. Hits come best first, each document with
 * its score in a hidden field that {@code {$meta: "vectorSearchScore"}} later stages read.
 */
final class VectorSearchStage {
  static final int MAX_CANDIDATES = 10_000;
  /** Where the score travels through the rest of the pipeline; removed from the output. */
  static final String SCORE_FIELD = "__vectorSearchScore";
  private static final Set<String> KEYS =
      Set.of("index", "path", "queryVector", "limit", "numCandidates", "filter", "exact");

  private VectorSearchStage() {}

  static List<Document> run(Document spec, SearchIndexes indexes, String database, String collection,
                            StoredDocuments source) {
    return run(spec, indexes, database, collection, source, List.of());
  }

  /**
   * As above; {@code rest} (the stages after this one) decides where hits are read: when it
   * starts with a {@code $project} that drops the indexed vectors, from the search index's copy
   * of each document without them, otherwise from the collection. Reading the collection is
   * where a lookup's time went (its store decodes a page of whole documents, vectors and all, per
   * hit: 60% of the server's CPU at 100k documents).
   */
  static List<Document> run(Document spec, SearchIndexes indexes, String database, String collection,
                            StoredDocuments source, List<Document> rest) {
    for (String key : spec.keySet()) {
      if (!KEYS.contains(key)) {
        throw error("\"" + key + "\" is not allowed");
      }
    }
    String indexName = text(spec, "index");
    String path = text(spec, "path");
    Object rawLimit = spec.get("limit");
    if (!(rawLimit instanceof Number)) {
      throw error("\"limit\" is required and must be a number");
    }
    int limit = ((Number) rawLimit).intValue();
    if (limit < 1) {
      throw error("\"limit\" must be positive");
    }
    boolean exact = Boolean.TRUE.equals(spec.get("exact"));
    Object rawCandidates = spec.get("numCandidates");
    int candidates = 0;
    if (exact) {
      if (rawCandidates != null) {
        throw error("\"numCandidates\" is not allowed when \"exact\" is true");
      }
    } else {
      if (!(rawCandidates instanceof Number)) {
        throw error("\"numCandidates\" is required for approximate search (or set \"exact\": true)");
      }
      candidates = ((Number) rawCandidates).intValue();
      if (candidates > MAX_CANDIDATES) {
        throw error("\"numCandidates\" must be less than or equal to " + MAX_CANDIDATES);
      }
      if (candidates < limit) {
        throw error("\"numCandidates\" must be greater than or equal to \"limit\"");
      }
    }
    SearchIndex index = indexes.find(database, collection, indexName);
    if (index == null) {
      throw new MongoServerError(27, "IndexNotFound",
          "$vectorSearch: index '" + indexName + "' does not exist on " + database + "." + collection
              + "; create it with createSearchIndexes and wait until it is READY");
    }
    LuceneVectors serving = index.serving;
    if (serving == null) {
      throw new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue",
          "$vectorSearch: index '" + indexName + "' is " + index.status + " and not yet queryable");
    }
    IndexDefinition.VectorField field = serving.definition.vectors.get(path);
    if (field == null) {
      throw error("Path '" + path + "' needs to be indexed as vector");
    }
    float[] target = queryVector(spec.get("queryVector"), field);
    Query filter = spec.containsKey("filter")
        ? FilterQuery.parse(spec.get("filter"), serving.definition.filters)
        : null;
    List<LuceneVectors.Hit> hits;
    try {
      hits = serving.search(field, target, limit, candidates, filter, exact);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
    boolean slimEnough = dropsVectors(rest, serving.definition.vectors.keySet());
    List<Document> docs = new ArrayList<>(hits.size());
    for (LuceneVectors.Hit hit : hits) {
      Document copy;
      if (slimEnough && hit.slim() != null) {
        copy = hit.slim(); // decoded for this lookup alone
      } else {
        Document doc = source == null ? null : source.byId(hit.id());
        if (doc == null) {
          continue; // deleted since the index last refreshed
        }
        copy = new Document(doc);
      }
      copy.put(SCORE_FIELD, hit.score());
      docs.add(copy);
    }
    return docs;
  }

  /**
   * Whether the first later stage is a {@code $project} whose output cannot hold a vector path:
   * an inclusion of other fields (values 1/true or {@code $meta}) or an exclusion of every vector
   * path. Anything else (expressions, other stages first) reads whole documents.
   */
  static boolean dropsVectors(List<Document> rest, Set<String> vectorPaths) {
    if (rest.isEmpty() || rest.get(0).size() != 1 || !(rest.get(0).get("$project") instanceof Document)) {
      return false;
    }
    Document project = (Document) rest.get(0).get("$project");
    boolean excludesAll = vectorPaths.stream().allMatch(path -> isFalse(project.get(path)));
    boolean inclusion = true;
    boolean includesAny = false; // {_id: 0} alone excludes, so it keeps the vectors
    for (Map.Entry<String, Object> entry : project.entrySet()) {
      String key = entry.getKey();
      Object value = entry.getValue();
      boolean meta = value instanceof Document && ((Document) value).containsKey("$meta")
          && ((Document) value).size() == 1;
      if (meta || "_id".equals(key) && isFalse(value)) {
        continue;
      }
      boolean included = Boolean.TRUE.equals(value)
          || value instanceof Number && ((Number) value).doubleValue() != 0;
      boolean touchesVector = vectorPaths.stream().anyMatch(
          path -> path.equals(key) || path.startsWith(key + ".") || key.startsWith(path + "."));
      includesAny |= included;
      if (!included || touchesVector) {
        inclusion = false;
      }
      if (!isFalse(value)) {
        excludesAll = false;
      }
    }
    return inclusion && includesAny || excludesAll;
  }

  private static boolean isFalse(Object value) {
    return Boolean.FALSE.equals(value) || value instanceof Number && ((Number) value).doubleValue() == 0;
  }

  private static float[] queryVector(Object raw, IndexDefinition.VectorField field) {
    if (!(raw instanceof List)) {
      throw error("\"queryVector\" must be an array of numbers");
    }
    List<?> list = (List<?>) raw;
    if (list.size() != field.dimensions()) {
      throw error("vector field is indexed with " + field.dimensions()
          + " dimensions but queried with " + list.size());
    }
    float[] vector = new float[list.size()];
    double norm = 0;
    for (int i = 0; i < vector.length; i++) {
      Object element = list.get(i);
      if (!(element instanceof Number) || !Double.isFinite(((Number) element).doubleValue())) {
        throw error("\"queryVector\" must be an array of finite numbers");
      }
      vector[i] = ((Number) element).floatValue();
      norm += (double) vector[i] * vector[i];
    }
    if (!field.normalizes()) {
      return vector;
    }
    if (norm == 0 || !Double.isFinite(norm)) {
      throw error("\"queryVector\" has no direction (all zeros), so it has no cosine similarity");
    }
    return LuceneVectors.scaled(vector, norm);
  }

  private static String text(Document spec, String key) {
    Object value = spec.get(key);
    if (!(value instanceof String) || ((String) value).isEmpty()) {
      throw error("\"" + key + "\" is required and must be a string");
    }
    return (String) value;
  }

  static MongoServerError error(String message) {
    return new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue", "$vectorSearch: " + message);
  }
}
