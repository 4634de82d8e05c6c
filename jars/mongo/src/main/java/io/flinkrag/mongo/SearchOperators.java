package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.DoublePoint;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.FuzzyQuery;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.TermQuery;

/**
 * The Atlas Search operators the stand-in answers, as Lucene queries: {@code text} (query, path,
 * optional fuzzy and matchCriteria), {@code compound} (must, should, filter, mustNot,
 * minimumShouldMatch), {@code equals} (token, boolean and number fields, constant score 1) and
 * {@code range} (numbers). A path that is not indexed with the operator's type matches nothing,
 * as on Atlas.
 */
final class SearchOperators {
  static final Set<String> OPERATORS = Set.of("text", "compound", "equals", "range");
  private static final Set<String> TEXT_KEYS = Set.of("query", "path", "fuzzy", "matchCriteria");
  private static final Set<String> FUZZY_KEYS = Set.of("maxEdits", "prefixLength", "maxExpansions");
  private static final Set<String> COMPOUND_KEYS = Set.of("must", "should", "filter", "mustNot", "minimumShouldMatch");
  private static final Set<String> RANGE_KEYS = Set.of("path", "gt", "gte", "lt", "lte");

  private SearchOperators() {}

  /** The one operator of a $search stage (or of a compound clause), at `where` for errors. */
  static Query parse(Document spec, String where, Set<String> otherKeys) {
    String found = null;
    for (String key : spec.keySet()) {
      if (OPERATORS.contains(key)) {
        if (found != null) {
          throw error(where + ": only one operator is allowed, got \"" + found + "\" and \"" + key + "\"");
        }
        found = key;
      } else if (!otherKeys.contains(key)) {
        throw error(where + ": \"" + key + "\" is not allowed (the stand-in's operators: "
            + String.join(", ", OPERATORS.stream().sorted().toList()) + ")");
      }
    }
    if (found == null) {
      throw error(where + ": an operator is required (one of "
          + String.join(", ", OPERATORS.stream().sorted().toList()) + ")");
    }
    Document body = document(spec.get(found), where + "." + found);
    switch (found) {
      case "text":
        return text(body, where + ".text");
      case "compound":
        return compound(body, where + ".compound");
      case "equals":
        return equalsQuery(body, where + ".equals");
      default:
        return range(body, where + ".range");
    }
  }

  private static Query text(Document body, String where) {
    allowed(body, TEXT_KEYS, where);
    List<String> queries = strings(body.get("query"), where + ".query");
    List<String> paths = strings(body.get("path"), where + ".path");
    Object criteria = body.getOrDefault("matchCriteria", "any");
    if (!"any".equals(criteria) && !"all".equals(criteria)) {
      throw error(where + ".matchCriteria must be \"any\" or \"all\"");
    }
    Document fuzzy = body.containsKey("fuzzy") ? document(body.get("fuzzy"), where + ".fuzzy") : null;
    int maxEdits = 0;
    int prefixLength = 0;
    int maxExpansions = 50;
    if (fuzzy != null) {
      allowed(fuzzy, FUZZY_KEYS, where + ".fuzzy");
      maxEdits = integer(fuzzy.getOrDefault("maxEdits", 2), where + ".fuzzy.maxEdits");
      if (maxEdits != 1 && maxEdits != 2) {
        throw error(where + ".fuzzy.maxEdits must be 1 or 2");
      }
      prefixLength = integer(fuzzy.getOrDefault("prefixLength", 0), where + ".fuzzy.prefixLength");
      maxExpansions = integer(fuzzy.getOrDefault("maxExpansions", 50), where + ".fuzzy.maxExpansions");
      if (prefixLength < 0 || maxExpansions < 1) {
        throw error(where + ".fuzzy: prefixLength must be >= 0 and maxExpansions >= 1");
      }
    }
    BooleanQuery.Builder anyPath = new BooleanQuery.Builder();
    for (String path : paths) {
      BooleanQuery.Builder terms = new BooleanQuery.Builder();
      int count = 0;
      for (String query : queries) {
        for (String token : tokens(path, query)) {
          Term term = new Term("s:" + path, token);
          Query one = maxEdits == 0 ? new TermQuery(term)
              : new FuzzyQuery(term, maxEdits, prefixLength, maxExpansions, true);
          terms.add(one, "all".equals(criteria) ? BooleanClause.Occur.MUST : BooleanClause.Occur.SHOULD);
          count++;
        }
      }
      if (count > 0) {
        anyPath.add(terms.build(), BooleanClause.Occur.SHOULD);
      }
    }
    BooleanQuery built = anyPath.build();
    return built.clauses().isEmpty() ? new MatchNoDocsQuery("no terms in the query") : built;
  }

  private static Query compound(Document body, String where) {
    allowed(body, COMPOUND_KEYS, where);
    BooleanQuery.Builder builder = new BooleanQuery.Builder();
    int clauses = 0;
    int should = 0;
    for (Map.Entry<String, BooleanClause.Occur> kind : Map.of(
        "must", BooleanClause.Occur.MUST, "should", BooleanClause.Occur.SHOULD,
        "filter", BooleanClause.Occur.FILTER, "mustNot", BooleanClause.Occur.MUST_NOT).entrySet()) {
      Object raw = body.get(kind.getKey());
      if (raw == null) {
        continue;
      }
      List<?> entries = raw instanceof List ? (List<?>) raw : List.of(raw);
      for (int i = 0; i < entries.size(); i++) {
        String at = where + "." + kind.getKey() + "[" + i + "]";
        builder.add(parse(document(entries.get(i), at), at, Set.of()), kind.getValue());
        clauses++;
        if (kind.getValue() == BooleanClause.Occur.SHOULD) {
          should++;
        }
      }
    }
    if (clauses == 0) {
      throw error(where + ": at least one of must, should, filter, mustNot is required");
    }
    if (body.containsKey("minimumShouldMatch")) {
      int minimum = integer(body.get("minimumShouldMatch"), where + ".minimumShouldMatch");
      if (minimum < 0 || minimum > should) {
        throw error(where + ".minimumShouldMatch must be between 0 and the number of should clauses");
      }
      builder.setMinimumNumberShouldMatch(minimum);
    }
    return builder.build();
  }

  private static Query equalsQuery(Document body, String where) {
    allowed(body, Set.of("path", "value"), where);
    String path = string(body.get("path"), where + ".path");
    if (!body.containsKey("value")) {
      throw error(where + ".value is required");
    }
    Object value = body.get("value");
    Query query;
    if (value instanceof String) {
      query = new TermQuery(new Term("t:" + path, (String) value));
    } else if (value instanceof Boolean) {
      query = new TermQuery(new Term("b:" + path, value.toString()));
    } else if (value instanceof Number) {
      query = DoublePoint.newExactQuery("n:" + path, ((Number) value).doubleValue());
    } else {
      throw error(where + ".value: the stand-in compares strings (token fields), booleans and numbers");
    }
    return new ConstantScoreQuery(query);
  }

  private static Query range(Document body, String where) {
    allowed(body, RANGE_KEYS, where);
    String path = string(body.get("path"), where + ".path");
    double low = Double.NEGATIVE_INFINITY;
    double high = Double.POSITIVE_INFINITY;
    boolean any = false;
    for (String bound : List.of("gt", "gte", "lt", "lte")) {
      Object raw = body.get(bound);
      if (raw == null) {
        continue;
      }
      if (!(raw instanceof Number)) {
        throw error(where + "." + bound + ": the stand-in's range compares numbers");
      }
      double value = ((Number) raw).doubleValue();
      any = true;
      switch (bound) {
        case "gt" -> low = Math.max(low, Math.nextUp(value));
        case "gte" -> low = Math.max(low, value);
        case "lt" -> high = Math.min(high, Math.nextDown(value));
        default -> high = Math.min(high, value);
      }
    }
    if (!any) {
      throw error(where + ": at least one of gt, gte, lt, lte is required");
    }
    return new ConstantScoreQuery(DoublePoint.newRangeQuery("n:" + path, low, high));
  }

  private static List<String> tokens(String path, String text) {
    List<String> out = new ArrayList<>();
    try (TokenStream stream = TextIndex.ANALYZER.tokenStream("s:" + path, text)) {
      CharTermAttribute term = stream.addAttribute(CharTermAttribute.class);
      stream.reset();
      while (stream.incrementToken()) {
        out.add(term.toString());
      }
      stream.end();
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
    return out;
  }

  private static void allowed(Document body, Set<String> keys, String where) {
    for (String key : body.keySet()) {
      if (!keys.contains(key)) {
        throw error(where + ": \"" + key + "\" is not allowed");
      }
    }
  }

  private static Document document(Object raw, String where) {
    if (!(raw instanceof Document)) {
      throw error(where + " must be a document");
    }
    return (Document) raw;
  }

  private static String string(Object raw, String where) {
    if (!(raw instanceof String) || ((String) raw).isEmpty()) {
      throw error(where + " is required and must be a string");
    }
    return (String) raw;
  }

  private static List<String> strings(Object raw, String where) {
    if (raw instanceof String && !((String) raw).isEmpty()) {
      return List.of((String) raw);
    }
    if (raw instanceof List && !((List<?>) raw).isEmpty()) {
      List<String> out = new ArrayList<>();
      for (Object element : (List<?>) raw) {
        out.add(string(element, where));
      }
      return out;
    }
    throw error(where + " is required: a string or a non-empty array of strings");
  }

  private static int integer(Object raw, String where) {
    if (!(raw instanceof Integer || raw instanceof Long)
        && !(raw instanceof Double && ((Double) raw) == Math.rint((Double) raw))) {
      throw error(where + " must be an integer");
    }
    return ((Number) raw).intValue();
  }

  static MongoServerError error(String message) {
    return new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue", "$search: " + message);
  }
}
