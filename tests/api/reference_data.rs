use navigator::domain::Role;
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn the_three_option_set_conditions_are_seeded(app) {
        let list = app.get("/v1/medical-conditions", Role::Viewer).await.expect(200);
        let abbreviations: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|c| c["abbreviation"].as_str().unwrap()).collect();
        assert_eq!(abbreviations, ["DMD", "GBM", "IPF"]);
        let gbm = app.get("/v1/medical-conditions?abbreviation=gbm", Role::Viewer).await.expect(200);
        assert_eq!(gbm.body["items"][0]["name"], "Glioblastoma");
    }

    async fn condition_names_and_abbreviations_are_each_unique(app) {
        let created = app.post("/v1/medical-conditions", Role::Admin, json!({"name": "Amyotrophic Lateral Sclerosis", "abbreviation": "als"})).await.expect(201);
        assert_eq!(created.body["abbreviation"], "ALS");
        let dup = app.post("/v1/medical-conditions", Role::Admin, json!({"name": "Another", "abbreviation": "ALS "})).await.expect_problem(409);
        assert!(dup.body["detail"].as_str().unwrap().contains("abbreviation"));
        app.post("/v1/medical-conditions", Role::Admin, json!({"name": "Glioblastoma", "abbreviation": "GB2"})).await.expect_problem(409);
    }

    async fn a_hospital_is_unique_by_name_and_city(app) {
        app.create("hospitals", json!({"name": "St. Antonius", "city": "Nieuwegein"})).await;
        app.create("hospitals", json!({"name": "St. Antonius", "city": "Utrecht"})).await;
        let dup = app.post("/v1/hospitals", Role::Admin, json!({"name": "St. Antonius", "city": "Utrecht"})).await.expect_problem(409);
        assert!(dup.body["detail"].as_str().unwrap().contains("name and city"), "{}", dup.body);
    }

    async fn deleting_a_hospital_that_practitioners_use_is_a_conflict_not_a_cascade(app) {
        let hospital = app.create("hospitals", json!({"name": "Erasmus MC", "city": "Rotterdam"})).await;
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "de Vries", "hospital_id": hospital})).await;
        app.delete(&format!("/v1/hospitals/{hospital}"), Role::Admin).await.expect_problem(409);
        assert_eq!(app.get(&format!("/v1/practitioners/{doctor}"), Role::Viewer).await.expect(200).body["hospital_id"], hospital.as_str());
        app.patch(&format!("/v1/practitioners/{doctor}"), Role::Admin, json!({"hospital_id": null})).await.expect(200);
        app.delete(&format!("/v1/hospitals/{hospital}"), Role::Admin).await.expect(204);
    }

    async fn a_condition_that_patients_have_cannot_be_deleted(app) {
        let condition = app.create("medical-conditions", json!({"name": "Cystic Fibrosis", "abbreviation": "CF"})).await;
        app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "medical_condition_id": condition})).await.expect(201);
        app.delete(&format!("/v1/medical-conditions/{condition}"), Role::Admin).await.expect_problem(409);
    }

    async fn specializations_have_full_crud(app) {
        let id = app.create("specializations", json!({"name": "Neurology"})).await;
        app.post("/v1/specializations", Role::Admin, json!({"name": "Neurology"})).await.expect_problem(409);
        let renamed = app.patch(&format!("/v1/specializations/{id}"), Role::Admin, json!({"name": "Paediatric neurology"})).await.expect(200);
        assert_eq!(renamed.body["name"], "Paediatric neurology");
        let found = app.get("/v1/specializations?name=Paediatric%20neurology", Role::Viewer).await.expect(200);
        assert_eq!(found.body["items"][0]["id"], id.as_str());
        app.delete(&format!("/v1/specializations/{id}"), Role::Admin).await.expect(204);
        app.get(&format!("/v1/specializations/{id}"), Role::Viewer).await.expect_problem(404);
    }

    async fn hospitals_filter_by_city_and_country(app) {
        app.create("hospitals", json!({"name": "UZ Leuven", "city": "Leuven", "country": "BE"})).await;
        app.create("hospitals", json!({"name": "UMCG", "city": "Groningen", "country": "NL"})).await;
        let be = app.get("/v1/hospitals?country=BE", Role::Viewer).await.expect(200);
        assert_eq!(be.body["items"].as_array().unwrap().len(), 1);
        let groningen = app.get("/v1/hospitals?city=Groningen", Role::Viewer).await.expect(200);
        assert_eq!(groningen.body["items"][0]["name"], "UMCG");
    }
}
