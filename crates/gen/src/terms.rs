//! Code tables: illustrative (SNOMED concept, term, Read v2). Every SNOMED id passes the Verhoeff
//! check (tested), but not every id is verified to be the named concept: synthetic data only.

pub(crate) struct Term {
    pub(crate) sct: &'static str,
    pub(crate) term: &'static str,
    pub(crate) read: &'static str,
}

pub(crate) const fn t(sct: &'static str, term: &'static str, read: &'static str) -> Term {
    Term { sct, term, read }
}

pub(crate) const CONDITIONS: &[Term] = &[
    t("38341003", "Hypertensive disorder", "G20..00"),
    t("44054006", "Type 2 diabetes mellitus", "C10F.00"),
    t("195967001", "Asthma", "H33..00"),
    t("13645005", "Chronic obstructive lung disease", "H3...00"),
    t("35489007", "Depressive disorder", "E2B..00"),
    t("197480006", "Anxiety disorder", "E200.00"),
    t("90560007", "Gout", "C34..00"),
    t("69896004", "Rheumatoid arthritis", "N040.00"),
    t("396275006", "Osteoarthritis", "N05..00"),
    t("22298006", "Myocardial infarction", "G30..00"),
    t("49436004", "Atrial fibrillation", "G573000"),
    t("230690007", "Cerebrovascular accident", "G66..00"),
    t("40930008", "Hypothyroidism", "C04..00"),
    t("84114007", "Heart failure", "G58..00"),
    t("271737000", "Anaemia", "D00..00"),
    t("37796009", "Migraine", "F26..00"),
    t("235595009", "Gastro-oesophageal reflux disease", "J101.00"),
    t("414916001", "Obesity", "C380.00"),
    t("68566005", "Urinary tract infection", "K190.00"),
    t("65363002", "Otitis media", "F52..00"),
];

pub(crate) const FINDINGS: &[Term] = &[
    t("29857009", "Chest pain", "182..00"),
    t("25064002", "Headache", "1B1G.00"),
    t("49727002", "Cough", "171..00"),
    t("386661006", "Fever", "1653.00"),
    t("267036007", "Dyspnoea", "173..00"),
    t("21522001", "Abdominal pain", "1969.00"),
    t("161891005", "Backache", "16C..00"),
    t("271807003", "Eruption of skin", "M2y..00"),
    t("422587007", "Nausea", "1971.00"),
    t("84229001", "Fatigue", "1683.00"),
    t("185317003", "Telephone encounter", "9N31.00"),
    t("390906007", "Follow-up encounter", "8H8..00"),
];

/// Codes the policy must never share (STI, termination of pregnancy).
pub(crate) const SENSITIVE: &[Term] = &[
    t("76272004", "Syphilis", "A94..00"),
    t("15628003", "Gonorrhoea", "A98..00"),
    t("57797005", "Termination of pregnancy", "7E07.00"),
];

pub(crate) struct Lab {
    pub(crate) sct: &'static str,
    pub(crate) term: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

pub(crate) const fn lab(
    sct: &'static str,
    term: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
) -> Lab {
    Lab {
        sct,
        term,
        unit,
        low,
        high,
    }
}

pub(crate) const LAB_PANELS: &[(&str, &str, &[Lab])] = &[
    (
        "26604007",
        "Full blood count",
        &[
            lab(
                "1022431000000105",
                "Haemoglobin estimation",
                "g/L",
                115.0,
                165.0,
            ),
            lab(
                "1022541000000102",
                "Total white cell count",
                "10*9/L",
                4.0,
                11.0,
            ),
            lab("1022651000000100", "Platelet count", "10*9/L", 150.0, 400.0),
            lab("1022291000000105", "Haematocrit", "L/L", 0.37, 0.47),
            lab("1022491000000106", "Mean cell volume", "fL", 80.0, 100.0),
            lab("1022551000000104", "Neutrophil count", "10*9/L", 2.0, 7.5),
            lab("1022581000000105", "Lymphocyte count", "10*9/L", 1.0, 4.0),
        ],
    ),
    (
        "26958001",
        "Urea and electrolytes",
        &[
            lab(
                "1000661000000107",
                "Serum sodium level",
                "mmol/L",
                133.0,
                146.0,
            ),
            lab(
                "1000651000000109",
                "Serum potassium level",
                "mmol/L",
                3.5,
                5.3,
            ),
            lab(
                "1000731000000107",
                "Serum creatinine level",
                "umol/L",
                60.0,
                120.0,
            ),
            lab("1000981000000109", "Serum urea level", "mmol/L", 2.5, 7.8),
            lab(
                "1011481000000105",
                "eGFR using creatinine",
                "mL/min/{1.73_m2}",
                60.0,
                120.0,
            ),
        ],
    ),
    (
        "166312007",
        "Blood lipids",
        &[
            lab(
                "1005671000000105",
                "Serum cholesterol level",
                "mmol/L",
                0.0,
                5.0,
            ),
            lab(
                "1005681000000107",
                "Serum triglycerides level",
                "mmol/L",
                0.0,
                1.7,
            ),
            lab(
                "1005691000000109",
                "Serum HDL cholesterol level",
                "mmol/L",
                1.0,
                2.2,
            ),
        ],
    ),
    (
        "26958001",
        "Liver function tests",
        &[
            lab(
                "1018251000000107",
                "Serum alanine aminotransferase level",
                "U/L",
                0.0,
                45.0,
            ),
            lab(
                "1000621000000104",
                "Serum alkaline phosphatase level",
                "U/L",
                30.0,
                130.0,
            ),
            lab(
                "1000611000000105",
                "Serum bilirubin level",
                "umol/L",
                0.0,
                21.0,
            ),
            lab("1000591000000102", "Serum albumin level", "g/L", 35.0, 50.0),
        ],
    ),
    (
        "43396009",
        "Haemoglobin A1c",
        &[lab(
            "1003671000000109",
            "Haemoglobin A1c level",
            "mmol/mol",
            20.0,
            42.0,
        )],
    ),
    (
        "61167004",
        "Thyroid function test",
        &[
            lab("1027151000000105", "Serum TSH level", "mU/L", 0.27, 4.2),
            lab(
                "1016971000000106",
                "Serum free T4 level",
                "pmol/L",
                12.0,
                22.0,
            ),
        ],
    ),
];

pub(crate) const VITALS: &[Lab] = &[
    lab("27113001", "Body weight", "kg", 50.0, 100.0),
    lab("50373000", "Body height", "m", 1.5, 1.95),
    lab("60621009", "Body mass index", "kg/m2", 18.5, 25.0),
    lab("78564009", "Pulse rate", "/min", 60.0, 100.0),
    lab("386725007", "Body temperature", "Cel", 36.1, 37.2),
];

pub(crate) struct Drug {
    pub(crate) sct: &'static str,
    pub(crate) term: &'static str,
    pub(crate) form: &'static str,
    pub(crate) dose: &'static str,
}

pub(crate) const fn drug(
    sct: &'static str,
    term: &'static str,
    form: &'static str,
    dose: &'static str,
) -> Drug {
    Drug {
        sct,
        term,
        form,
        dose,
    }
}

pub(crate) const DRUGS: &[Drug] = &[
    drug(
        "330062008",
        "Allopurinol 300mg tablets",
        "tablet",
        "One To Be Taken Each Day After Food",
    ),
    drug(
        "319773006",
        "Aspirin 75mg dispersible tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "320000009",
        "Simvastatin 40mg tablets",
        "tablet",
        "One To Be Taken At Night",
    ),
    drug(
        "325278007",
        "Metformin 500mg tablets",
        "tablet",
        "One To Be Taken Twice A Day",
    ),
    drug(
        "318135008",
        "Ramipril 5mg capsules",
        "capsule",
        "One To Be Taken Each Day",
    ),
    drug(
        "319283006",
        "Amlodipine 5mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "317335000",
        "Omeprazole 20mg gastro-resistant capsules",
        "capsule",
        "One To Be Taken Each Morning",
    ),
    drug(
        "321208002",
        "Sertraline 50mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "322236009",
        "Paracetamol 500mg tablets",
        "tablet",
        "Two To Be Taken Four Times A Day When Required",
    ),
    drug(
        "323509004",
        "Amoxicillin 500mg capsules",
        "capsule",
        "One To Be Taken Three Times A Day",
    ),
    drug(
        "320880006",
        "Salbutamol 100micrograms/dose inhaler",
        "inhaler",
        "Two Puffs When Required",
    ),
    drug(
        "376856000",
        "Levothyroxine sodium 50microgram tablets",
        "tablet",
        "One To Be Taken Each Morning",
    ),
    drug(
        "318420003",
        "Bisoprolol 2.5mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
    drug(
        "317972000",
        "Furosemide 40mg tablets",
        "tablet",
        "One To Be Taken Each Morning",
    ),
    drug(
        "408155001",
        "Atorvastatin 20mg tablets",
        "tablet",
        "One To Be Taken Each Day",
    ),
];

pub(crate) const DRUG_ALLERGIES: &[Term] = &[
    t("294505008", "Allergy to amoxicillin", "TJ003.00"),
    t("294532003", "Allergy to penicillin", "TJ00.00"),
    t("293586001", "Allergy to aspirin", "TJ53.00"),
    t("294467001", "Allergy to codeine", "TJ51.00"),
];

pub(crate) const OTHER_ALLERGIES: &[Term] = &[
    t("91935009", "Allergy to peanut", "SN53.00"),
    t("300913006", "Shellfish allergy", "SN53.00"),
    t("300916003", "Latex allergy", "SN53.00"),
    t("232347008", "Dander allergy", "SN53.00"),
];

pub(crate) const COMPOSITION_CODES: &[(&str, &str)] = &[
    ("24591000000103", "Other report"),
    ("325851000000107", "Surgery consultation note"),
    ("185317003", "Telephone encounter"),
    ("185349003", "Encounter for check up"),
];

pub(crate) const WORDS: &[&str] = &[
    "patient",
    "reports",
    "feeling",
    "better",
    "worse",
    "since",
    "last",
    "review",
    "advised",
    "rest",
    "fluids",
    "return",
    "if",
    "symptoms",
    "persist",
    "no",
    "red",
    "flags",
    "examined",
    "chest",
    "clear",
    "abdomen",
    "soft",
    "non-tender",
    "discussed",
    "options",
    "plan",
    "agreed",
    "follow",
    "up",
    "in",
    "two",
    "weeks",
    "bloods",
    "requested",
    "mild",
    "moderate",
    "pain",
    "sleep",
    "appetite",
    "normal",
    "denies",
    "fever",
    "cough",
    "ENT &amp; audiology",
    "BP",
    "&lt;140/90",
    "target",
    "met",
    "lifestyle",
    "advice",
    "given",
    "smoking",
    "cessation",
];
